// Who follows what on the live hub: one scope per connection; the publisher works only for the scopes followed.
using System.Collections.Concurrent;
using PacketScope.Messages;

namespace PacketScope.Web.Live;

/// <summary>A subscription: the whole cluster (Node null) or one node, and the connection query its flows follow.</summary>
public sealed record LiveScope(string? Node, ConnectionQuery Flows)
{
    /// <summary>The SignalR group: the same node and query share one group and one query per tick.</summary>
    public string Key => $"{Node ?? "*"}|{Flows.Limit}|{Flows.Offset}|{Flows.Sort}|{Flows.Address}|{Flows.Port}|{Flows.Protocol}|{Flows.Interface}|{Flows.State}";
}

public sealed class LiveScopes
{
    private readonly ConcurrentDictionary<string, LiveScope> _byConnection = new();
    private readonly ConcurrentDictionary<string, byte> _connected = new();

    /// <summary>Connections open now (subscribed or not: every one gets the members and the rules).</summary>
    public int Connections => _connected.Count;

    public void Connected(string connectionId) => _connected[connectionId] = 0;

    /// <summary>Sets a connection's scope (previous: the one it had); false when the connection closed meanwhile (a
    /// Subscribe still running when it disconnected must not leave a scope behind).</summary>
    public bool Set(string connectionId, LiveScope scope, out LiveScope? previous)
    {
        LiveScope? old = null;
        _byConnection.AddOrUpdate(connectionId, scope, (_, o) =>
        {
            old = o;
            return scope;
        });
        previous = old;
        if (_connected.ContainsKey(connectionId))
            return true;
        _byConnection.TryRemove(connectionId, out _);
        return false;
    }

    public void Remove(string connectionId)
    {
        _connected.TryRemove(connectionId, out _);
        _byConnection.TryRemove(connectionId, out _);
    }

    /// <summary>The scopes someone follows, one per group.</summary>
    public IReadOnlyList<LiveScope> Active => _byConnection.Values.GroupBy(s => s.Key).Select(g => g.First()).ToList();
}
