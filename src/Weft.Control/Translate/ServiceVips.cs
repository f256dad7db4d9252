using System.Collections.Immutable;
using System.Globalization;

namespace Weft.Control.Translate;

/// <summary>
/// Every Service's virtual IP, for transparent interception: a client in a network namespace
/// resolves <c>catalog</c> to its VIP, dials it, and its sidecar's capture listener recognises the
/// (VIP, port) the connection was redirected from. Pure and deterministic: the same set of Services
/// always gets the same addresses, so the control plane (translation) and `weft up` (hosts files)
/// agree without talking, and a Service keeps its address across restarts and unrelated changes.
/// </summary>
/// <remarks>
/// The address is 10.255.0.0/16 at FNV-1a("namespace/name") (offsets 1..65534). Two Services that
/// hash to one slot are placed by name order with linear probing, so a new Service only moves
/// another if it collides with it and sorts first: with 65,534 slots that needs thousands of
/// Services before it is likely. The range never leaves a workload's namespace: no route in it goes
/// beyond the bridge, and every connection to it is redirected to the sidecar.
/// </remarks>
public static class ServiceVips
{
    public const string Range = "10.255.0.0/16";
    private const uint Base = (10u << 24) | (255u << 16);
    private const uint Slots = 65534;

    public static ImmutableDictionary<(string Namespace, string Name), string> Allocate(IEnumerable<(string Namespace, string Name)> services)
    {
        var ordered = services.Distinct()
            .Select(s => (Service: s, Slot: Slot(s.Namespace, s.Name)))
            .OrderBy(s => s.Slot)
            .ThenBy(s => s.Service.Namespace, StringComparer.Ordinal)
            .ThenBy(s => s.Service.Name, StringComparer.Ordinal);
        var taken = new HashSet<uint>();
        var result = ImmutableDictionary.CreateBuilder<(string, string), string>();
        foreach (var (service, slot) in ordered)
        {
            var s = slot;
            while (!taken.Add(s)) s = s % Slots + 1;   // 1..65534, wrapping
            result[service] = Text(Base + s);
        }
        return result.ToImmutable();
    }

    private static uint Slot(string ns, string name)
    {
        var hash = 2166136261u;
        foreach (var c in ns + "/" + name)
        {
            hash ^= c;
            hash *= 16777619u;
        }
        return hash % Slots + 1;
    }

    private static string Text(uint address) => string.Join('.',
        (address >> 24).ToString(CultureInfo.InvariantCulture), ((address >> 16) & 0xff).ToString(CultureInfo.InvariantCulture),
        ((address >> 8) & 0xff).ToString(CultureInfo.InvariantCulture), (address & 0xff).ToString(CultureInfo.InvariantCulture));
}
