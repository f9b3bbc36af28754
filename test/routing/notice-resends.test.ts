// Notices sent again: which failed death pushes and leave notices go again, to whom, naming what, and how
// often. The scenarios death-push-resend.txt and leave-resend.txt show the rules at work in an overlay;
// isReportedFailure says which failures the runtime reports at all.
import { describe, expect, it } from "vitest";
import {
  NOTICE_RESENDS,
  deathPushResend,
  leaveResend,
  type DeathPushState,
} from "../../src/routing/notice-resends.js";
import { NodeId } from "../../src/routing/id.js";
import {
  isReportedFailure,
  type NodeInfo,
  type Outbound,
  type PeerMessage,
} from "../../src/routing/types.js";
import { nodeInfo } from "./overlay-harness.js";

const info = (hex: string, port: number): NodeInfo => nodeInfo(NodeId.fromHex(hex.padEnd(32, "0")), port);

const holder = info("60", 1);
const dead = info("80", 2);
const alsoDead = info("c0", 3);
const finderLeafSet = [info("50", 4), holder, info("90", 5)];

function push(message: PeerMessage, attempt?: number, to: NodeInfo = holder): Outbound {
  return { to, address: to.localAddress, message, ...(attempt === undefined ? {} : { attempt }) };
}

function state(options: { members?: NodeInfo[]; believed?: NodeInfo[] } = {}): DeathPushState {
  const members = options.members ?? [holder];
  const believed = options.believed ?? [dead, alsoDead];
  return {
    isMember: (node) => members.some((m) => m.id.equals(node.id) && m.incarnation === node.incarnation),
    believesDead: (id) => believed.some((b) => b.id.equals(id)),
    leafSet: () => finderLeafSet,
  };
}

const deathPush: PeerMessage = { type: "leafSet", leafSet: [holder], removed: [dead.id, alsoDead.id] };

describe("death pushes sent again", () => {
  it("a failed push to a member still held goes again with the leaf set as it is now, one attempt later, to the same address", () => {
    const resend = deathPushResend(push(deathPush), "unknown", state());
    expect(resend).toEqual({
      to: holder,
      address: holder.localAddress,
      message: { type: "leafSet", leafSet: finderLeafSet, removed: [dead.id, alsoDead.id] },
      attempt: 1,
    });
  });

  it(`goes again at most ${NOTICE_RESENDS} times`, () => {
    expect(deathPushResend(push(deathPush, NOTICE_RESENDS - 1), "unknown", state())?.attempt).toBe(
      NOTICE_RESENDS,
    );
    expect(deathPushResend(push(deathPush, NOTICE_RESENDS), "unknown", state())).toBeUndefined();
  });

  it("names only the deaths still believed, and none goes when every death was refuted or forgotten", () => {
    const resend = deathPushResend(push(deathPush), "unknown", state({ believed: [alsoDead] }));
    expect(resend?.message).toEqual({ type: "leafSet", leafSet: finderLeafSet, removed: [alsoDead.id] });
    expect(deathPushResend(push(deathPush), "unknown", state({ believed: [] }))).toBeUndefined();
  });

  it("none goes to a receiver no longer in the leaf set, nor to another incarnation of it", () => {
    expect(deathPushResend(push(deathPush), "unknown", state({ members: [] }))).toBeUndefined();
    const restarted = { ...holder, incarnation: holder.incarnation + 1 };
    expect(deathPushResend(push(deathPush), "unknown", state({ members: [restarted] }))).toBeUndefined();
  });

  it("none goes to the dead node itself (death rechecks tell it), even while it is held", () => {
    const toDead = push({ type: "leafSet", leafSet: finderLeafSet, removed: [dead.id] }, undefined, dead);
    expect(deathPushResend(toDead, "unknown", state({ members: [dead] }))).toBeUndefined();
  });

  it("a notice sent without a leaf set goes again without one (its receiver probes rather than takes our word)", () => {
    const notice = push({ type: "leafSet", leafSet: [], removed: [dead.id] });
    expect(deathPushResend(notice, "unknown", state())?.message).toEqual({
      type: "leafSet",
      leafSet: [],
      removed: [dead.id],
    });
  });

  it("none goes after a refused connection (the receiver's process is gone), a timeout or a broken call do", () => {
    expect(deathPushResend(push(deathPush), "unreachable", state())).toBeUndefined();
    expect(deathPushResend(push(deathPush), "broken", state())?.attempt).toBe(1);
  });

  it("gossip and other messages naming no death never go again", () => {
    expect(
      deathPushResend(push({ type: "leafSet", leafSet: finderLeafSet, removed: [] }), "unknown", state()),
    ).toBeUndefined();
    expect(deathPushResend(push({ type: "leafSetRequest" }), "unknown", state())).toBeUndefined();
  });

  it("the runtime reports failed leaf-set messages that name deaths, and no other leaf-set message", () => {
    expect(isReportedFailure(deathPush)).toBe(true);
    expect(isReportedFailure({ type: "leafSet", leafSet: finderLeafSet, removed: [] })).toBe(false);
    expect(isReportedFailure({ type: "leafSetRequest" })).toBe(false);
    expect(isReportedFailure({ type: "heartbeat" })).toBe(true);
  });
});

describe("leave notices sent again", () => {
  const leaveNotice: PeerMessage = { type: "leave", leafSet: finderLeafSet };
  const isHolder = (node: NodeInfo): boolean =>
    node.id.equals(holder.id) && node.incarnation === holder.incarnation;

  it(`a failed leave notice goes again unchanged to the same address, at most ${NOTICE_RESENDS} times`, () => {
    const first = leaveResend(push(leaveNotice), "unknown", isHolder);
    expect(first).toEqual({ to: holder, address: holder.localAddress, message: leaveNotice, attempt: 1 });
    expect(leaveResend(push(leaveNotice, NOTICE_RESENDS - 1), "unknown", isHolder)?.attempt).toBe(
      NOTICE_RESENDS,
    );
    expect(leaveResend(push(leaveNotice, NOTICE_RESENDS), "unknown", isHolder)).toBeUndefined();
  });

  it("only to a member of the leaver's leaf set (a table entry finds the leaver gone when it uses it), never after a refusal", () => {
    const toOther = push(leaveNotice, undefined, dead);
    expect(leaveResend(toOther, "unknown", isHolder)).toBeUndefined();
    expect(leaveResend(push(leaveNotice), "unreachable", isHolder)).toBeUndefined();
  });

  it("only leave notices: other messages get no leave resend", () => {
    expect(leaveResend(push(deathPush), "unknown", isHolder)).toBeUndefined();
  });

  it("the runtime reports failed leave notices", () => {
    expect(isReportedFailure(leaveNotice)).toBe(true);
  });
});
