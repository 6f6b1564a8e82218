// Markdown output: tables with aligned columns, number formats, medians.
using System.Globalization;
using System.Text;

namespace PacketScope.Bench.Harness;

internal sealed class Table(params string[] headers)
{
    private readonly List<string[]> _rows = new();

    public Table Row(params string[] cells)
    {
        _rows.Add(cells);
        return this;
    }

    public override string ToString()
    {
        var widths = headers.Select((h, i) => Math.Max(h.Length, _rows.Select(r => i < r.Length ? r[i].Length : 0).DefaultIfEmpty(0).Max())).ToArray();
        var sb = new StringBuilder();
        void Line(IReadOnlyList<string> cells) =>
            sb.Append("| ").Append(string.Join(" | ", widths.Select((w, i) => (i < cells.Count ? cells[i] : "").PadRight(w)))).AppendLine(" |");
        Line(headers);
        sb.Append('|').Append(string.Join("|", widths.Select(w => new string('-', w + 2)))).AppendLine("|");
        foreach (var row in _rows)
            Line(row);
        return sb.ToString();
    }
}

internal static class Fmt
{
    public static string F(double value, int decimals = 2) => value.ToString("F" + decimals, CultureInfo.InvariantCulture);

    public static string N(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    public static string Ms(TimeSpan t) => F(t.TotalMilliseconds, 0) + " ms";

    public static string Mb(double mb) => F(mb, 0) + " MB";

    public static string Ratio(double r) => F(r, 3);

    /// <summary>The 1- and 5-minute load averages: other work on the machine shows up here (and in the spread).</summary>
    public static string LoadAverage()
    {
        var fields = File.ReadAllText("/proc/loadavg").Split(' ');
        return $"{fields[0]} (1 min), {fields[1]} (5 min)";
    }

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.OrderBy(v => v).ToArray();
        if (sorted.Length == 0)
            return double.NaN;
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
