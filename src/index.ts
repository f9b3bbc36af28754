// Package root: the embeddable Wendy API.
export * from "./routing/id.js";
export * from "./routing/types.js";
