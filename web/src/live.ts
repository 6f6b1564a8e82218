// The live connection to /hubs/live: reconnects by itself (for ever, backing off to 5 s), re-subscribes after every
// reconnect, and hands each push to whoever listens. The badge shows whether updates are flowing.
import * as signalR from "@microsoft/signalr";
import { token } from "./api";

export type Kind = "Nodes" | "Stats" | "Flows" | "Icmp" | "Rules";
type Listener = (payload: any) => void;

const listeners = new Map<Kind, Set<Listener>>();
let subscription: { node: string | null; query: Record<string, string> } = { node: null, query: {} };
let state: "live" | "connecting" | "down" = "connecting";
const stateListeners = new Set<(s: typeof state) => void>();

const connection = new signalR.HubConnectionBuilder()
  .withUrl("hubs/live", { accessTokenFactory: () => token() ?? "" })
  .withAutomaticReconnect({ nextRetryDelayInMilliseconds: (ctx) => Math.min(5000, 500 * (ctx.previousRetryCount + 1)) })
  .configureLogging(signalR.LogLevel.Warning)
  .build();

for (const kind of ["Nodes", "Stats", "Flows", "Icmp", "Rules"] as Kind[])
  connection.on(kind, (payload: any) => listeners.get(kind)?.forEach((l) => l(payload)));

function setState(s: typeof state) {
  state = s;
  stateListeners.forEach((l) => l(s));
}

connection.onreconnecting(() => setState("down"));
connection.onreconnected(async () => {
  await resubscribe();
  setState("live");
});
let restarting = false;
// Automatic reconnect gives up after its attempts: start again, for as long as the page is open.
connection.onclose(() => {
  setState("down");
  if (!restarting) setTimeout(start, 2000);
});

/** Connects again now: the token is read when connecting (a browser's WebSocket carries it in the URL). */
export async function reconnect(): Promise<void> {
  restarting = true;
  try {
    await connection.stop();
  } finally {
    restarting = false;
  }
  await start();
}

export async function start(): Promise<void> {
  try {
    await connection.start();
    await resubscribe();
    setState("live");
  } catch {
    setState("down");
    setTimeout(start, 2000);
  }
}

async function resubscribe() {
  if (connection.state === signalR.HubConnectionState.Connected)
    await connection.invoke("Subscribe", subscription.node, subscription.query);
}

/** Follows a node (null: the whole cluster) with a connection query; a refused query throws with the server's message. */
export async function subscribe(node: string | null, query: Record<string, string>): Promise<void> {
  const previous = subscription;
  subscription = { node, query };
  try {
    await resubscribe();
  } catch (e) {
    subscription = previous;
    throw e;
  }
}

export function on(kind: Kind, listener: Listener): () => void {
  if (!listeners.has(kind)) listeners.set(kind, new Set());
  listeners.get(kind)!.add(listener);
  return () => listeners.get(kind)!.delete(listener);
}

export function onState(listener: (s: typeof state) => void): void {
  stateListeners.add(listener);
  listener(state);
}

/** A hub method (rule changes): the server's reply {status, body, version}. */
export function invoke<T>(method: string, ...args: unknown[]): Promise<T> {
  return connection.invoke<T>(method, ...args);
}
