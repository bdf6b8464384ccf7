import { decode, streams, subjects } from "@oneshot/proto";
import { followOrdered, type EventStore, type Logger, type Nats } from "@oneshot/runtime";
import { applyEvent, applyHeartbeat, type DashboardState } from "./core/dashboard-state.js";

export interface LiveFeed {
  /** True once every event stored before we started has been applied. */
  caughtUp(): boolean;
  stop(): Promise<void>;
}

/**
 * Follows the event log from its start (EVENTS, an ordered consumer: the same fold as the CLI's
 * `jobs`/`hosts`, kept live) and the hosts' heartbeats (TELEMETRY, last per subject, then
 * live), and calls `onChange` after each. Nothing here polls a service.
 */
export async function startLiveFeed(o: {
  nats: Nats;
  store: EventStore;
  state: DashboardState;
  log: Logger;
  clock: () => number;
  onChange: () => void;
  onFatal: (e: unknown) => void;
}): Promise<LiveFeed> {
  const last = await o.store.lastStreamSeq();
  let caughtUp = last === 0;
  const stopEvents = await o.store.follow(
    subjects.allEvents,
    (e) => {
      applyEvent(o.state, e);
      if (e.seq >= last) caughtUp = true;
      o.onChange();
    },
    {
      startSeq: 1,
      onError: o.onFatal,
      // A message no reader may apply (undecodable, misplaced) still counts as read.
      onDecodeError: (err) => {
        o.log.warn({ err, subject: err.subject, seq: err.seq }, "event skipped");
        if ((err.seq ?? 0) >= last) caughtUp = true;
      },
    },
  );

  // Through a NATS node's loss (followOrdered).
  const stopBeats = await followOrdered(o.nats.js, {
    stream: streams.telemetry.name,
    filter: subjects.allHeartbeats,
    start: "last-per-subject",
    maxMessages: 256,
    onMessage: (m) => {
      try {
        const msg = decode(m.data, { subject: m.subject, seq: m.seq });
        if (msg.type === "HostHeartbeat") {
          applyHeartbeat(o.state, msg.data, m.subject, o.clock());
          o.onChange();
        }
      } catch (err) {
        o.log.warn({ err, subject: m.subject }, "heartbeat skipped");
      }
    },
  });
  return {
    caughtUp: () => caughtUp,
    stop: async () => {
      await stopBeats();
      await stopEvents();
    },
  };
}
