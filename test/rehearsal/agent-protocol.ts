// Messages between the rehearsal test and its agents (agent.ts) over the IPC channel.
export type AgentRequest =
  | { readonly seq: number; readonly op: "grpcHealth"; readonly address: string; readonly service: string }
  | { readonly seq: number; readonly op: "http"; readonly url: string }
  | { readonly seq: number; readonly op: "tcp"; readonly host: string; readonly port: number }
  | {
      readonly seq: number;
      readonly op: "send";
      readonly clientAddress: string;
      readonly key: string;
      readonly purpose: number;
      readonly payload: string;
      readonly deadlineMs: number;
    };

export type AgentReply =
  | { readonly seq: number; readonly ok: true; readonly text: string; readonly status?: number }
  | {
      readonly seq: number;
      readonly ok: true;
      readonly deliveredBy: string;
      readonly incarnation: number;
      readonly hops: number;
    }
  | { readonly seq: number; readonly ok: false; readonly error: string };
