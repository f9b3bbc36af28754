// The demo's defaults, apart from the demo itself: `wendy demo`'s flags show them, and the program that
// defines those flags (also the daemon's) need not load the demo to do so.
export const DEFAULT_DEMO_OPTIONS = { nodes: 6, messages: 10, leafSetSize: 4 } as const;
