export * from "./nats-server.js";
export * from "./wait.js";
export * from "./skip.js";
export * from "./connect.js";
export * from "./fake-github.js";
export * from "./fake-gitlab.js";
