// The bench's command line: a subcommand, then --name value pairs.
using System.Globalization;

namespace PacketScope.Bench;

internal sealed class Options
{
    private readonly Dictionary<string, string> _values = new(StringComparer.Ordinal);

    public Options(IEnumerable<string> args)
    {
        var list = args.ToList();
        for (var i = 0; i < list.Count; i++)
        {
            if (!list[i].StartsWith("--", StringComparison.Ordinal) || i + 1 >= list.Count)
                throw new ArgumentException($"expected --name value, got '{list[i]}'");
            _values[list[i][2..]] = list[++i];
        }
    }

    public int Int(string name, int fallback) =>
        _values.TryGetValue(name, out var v) ? int.Parse(v.Replace("_", ""), CultureInfo.InvariantCulture) : fallback;

    public double Double(string name, double fallback) =>
        _values.TryGetValue(name, out var v) ? double.Parse(v, CultureInfo.InvariantCulture) : fallback;

    public string String(string name, string fallback) => _values.GetValueOrDefault(name, fallback);

    /// <summary>--part: "all" (the default) or one of <paramref name="parts"/>; whether <paramref name="part"/> runs.</summary>
    public bool Runs(string part, params string[] parts)
    {
        var chosen = String("part", "all");
        if (chosen != "all" && !parts.Contains(chosen))
            throw new ArgumentException($"--part: '{chosen}' is not all, {string.Join(" or ", parts)}");
        return chosen == "all" || chosen == part;
    }
}
