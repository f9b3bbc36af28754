// gRPC options of the channels Wendy opens: to other nodes, and from clients to a node.
import type { ChannelOptions } from "@grpc/grpc-js";

/**
 * grpc-js keeps channelz statistics by default: a clock read and counter updates per message on every
 * stream, and event traces per channel, subchannel and socket. Nothing in Wendy serves channelz (the
 * Prometheus metrics say what an operator needs), so every channel turns it off. Servers keep it: grpc-js
 * (1.14) tracks a server's sessions for forceShutdown only when channelz is on, and without it a server cut
 * off at once would leave its connections open, so peers would not see a killed node's connections break.
 */
export const CHANNEL_OPTIONS: ChannelOptions = { "grpc.enable_channelz": 0 };

/**
 * A channel to another node. Wendy's peer protocol does its own retrying (a route hop is resent to the same
 * node, then routed around; a probe is repeated before a node is declared dead), so grpc-js's retry layer
 * only costs: it copies every message written on a stream into a buffer kept for a retry that never comes.
 * Without it, a call the peer refused before reading it fails with UNAVAILABLE, which the node handles
 * like any other failed call.
 */
export const PEER_CHANNEL_OPTIONS: ChannelOptions = { ...CHANNEL_OPTIONS, "grpc.enable_retries": 0 };
