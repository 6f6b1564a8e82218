// Who follows what on the live hub: one scope per connection; the publisher works only for the scopes followed.
using System.Collections.Concurrent;
using PacketScope.Messages;

namespace PacketScope.Web.Live;

/// <summary>A subscription: the whole cluster (Node null) or one node, and the connection query its flows follow.</summary>
public sealed record LiveScope(string? Node, ConnectionQuery Flows)
{
    /// <summary>The SignalR group: the same node and query share one group and one query per tick.</summary>
    public string Key => $"{Node ?? "*"}|{Flows.Limit}|{Flows.Sort}|{Flows.Address}|{Flows.Port}|{Flows.Protocol}|{Flows.Interface}|{Flows.State}";
}

public sealed class LiveScopes
{
    private readonly ConcurrentDictionary<string, LiveScope> _byConnection = new();
    private int _connections;

    /// <summary>Connections open now (subscribed or not: every one gets the members and the rules).</summary>
    public int Connections => Volatile.Read(ref _connections);

    public void Connected() => Interlocked.Increment(ref _connections);

    /// <summary>Sets a connection's scope; returns the one it had.</summary>
    public LiveScope? Set(string connectionId, LiveScope scope)
    {
        LiveScope? previous = null;
        _byConnection.AddOrUpdate(connectionId, scope, (_, old) =>
        {
            previous = old;
            return scope;
        });
        return previous;
    }

    public void Remove(string connectionId)
    {
        Interlocked.Decrement(ref _connections);
        _byConnection.TryRemove(connectionId, out _);
    }

    /// <summary>The scopes someone follows, one per group.</summary>
    public IReadOnlyList<LiveScope> Active => _byConnection.Values.GroupBy(s => s.Key).Select(g => g.First()).ToList();
}
