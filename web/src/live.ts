// The live connection to /hubs/live: reconnects by itself (for ever, backing off to 5 s), re-subscribes after every
// reconnect, and hands each push to whoever listens. The badge shows whether updates are flowing.
import * as signalR from "@microsoft/signalr";
import { token } from "./api";

export type Kind = "Nodes" | "Stats" | "Flows" | "Icmp" | "Rules";
type Listener = (payload: any) => void;

const listeners = new Map<Kind, Set<Listener>>();
let subscription: { node: string | null; query: Record<string, string> } = { node: null, query: {} };
let scopeKey: string | null = null; // what Subscribe returned: pushes for another scope (in flight at a switch) are dropped
let state: "live" | "connecting" | "down" = "connecting";
const stateListeners = new Set<(s: typeof state) => void>();

const connection = new signalR.HubConnectionBuilder()
  .withUrl("hubs/live", { accessTokenFactory: () => token() ?? "" })
  .withAutomaticReconnect({ nextRetryDelayInMilliseconds: (ctx) => Math.min(5000, 500 * (ctx.previousRetryCount + 1)) })
  .configureLogging(signalR.LogLevel.Warning)
  .build();

for (const kind of ["Nodes", "Stats", "Flows", "Icmp", "Rules"] as Kind[])
  connection.on(kind, (payload: any) => {
    if (payload && typeof payload === "object" && "scope" in payload && payload.scope !== scopeKey) return;
    listeners.get(kind)?.forEach((l) => l(payload));
  });

function setState(s: typeof state) {
  state = s;
  stateListeners.forEach((l) => l(s));
}

connection.onreconnecting(() => setState("down"));
connection.onreconnected(async () => {
  await resubscribeOrCluster();
  setState("live");
});
let restarting = false;
let retry: ReturnType<typeof setTimeout> | null = null;

// One retry timer at a time; start only from Disconnected (a failed subscribe on a live connection is not a lost one).
function retryLater() {
  if (retry === null) retry = setTimeout(() => { retry = null; start(); }, 2000);
}

// Automatic reconnect gives up after its attempts: start again, for as long as the page is open.
connection.onclose(() => {
  setState("down");
  if (!restarting) retryLater();
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
  if (connection.state !== signalR.HubConnectionState.Disconnected) return;
  try {
    await connection.start();
  } catch {
    setState("down");
    retryLater();
    return;
  }
  await resubscribeOrCluster();
  setState("live");
}

// After a (re)connect: the page's subscription, or the whole cluster if it is refused now (its node left).
async function resubscribeOrCluster() {
  try {
    await resubscribe();
  } catch {
    subscription = { node: null, query: subscription.query };
    try { await resubscribe(); } catch { subscription = { node: null, query: {} }; await resubscribe().catch(() => {}); }
  }
}

async function resubscribe() {
  if (connection.state === signalR.HubConnectionState.Connected)
    scopeKey = await connection.invoke<string>("Subscribe", subscription.node, subscription.query);
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
