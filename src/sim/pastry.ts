// The simulator's machines are the routing core's own PastryNode, unwrapped.
import { PastryNode } from "../routing/node.js";
import type { MachineFactory } from "./machine.js";

export const createPastryMachine: MachineFactory = (self, options) => new PastryNode(self, options);
