namespace Weft.Cli.Up.Isolation;

/// <summary>
/// The demo shop (examples/shop), copied into the run's stage and run from there when the apps' uid
/// cannot run it where it was built: a checkout under /root or a 0700 home, run by root without sudo,
/// which is how CI runs `weft up --isolation netns`.
/// </summary>
/// <remarks>
/// Only the demo, because it is the one app weft knows to be public (built from this repository) and
/// self-contained in its build folder (`.build/bin/Shop/release/`, beside weft's own), taking no file
/// arguments, so it runs the same from the stage with the stage as working directory. Copying a user's
/// app out of a folder its owner closed would hand its files to every user; such an app gets
/// <see cref="AppAccess"/>'s error instead. The copy is root's and world-readable, like the sidecars'.
/// </remarks>
/// <param name="Built">The shop's build folder beside this weft.</param>
/// <param name="Staged">Its copy in the run's stage.</param>
internal sealed record DemoStage(string Built, string Staged)
{
    public const string Dll = "shop.dll";

    /// <summary>The stage's sub-folder for the shop (the rest of the stage is the sidecars').</summary>
    public const string Folder = "shop";

    /// <summary>The shop built beside this weft (<c>.build/bin/Shop/release/</c> next to <c>.build/bin/Weft.Cli/release/</c>); null when there is none.</summary>
    public static DemoStage? Beside(string weftDirectory, string stage)
    {
        var built = Path.GetFullPath(Path.Combine(weftDirectory, "..", "..", "Shop", "release"));
        return File.Exists(Path.Combine(built, Dll)) ? new DemoStage(built, Path.Combine(stage, Folder)) : null;
    }

    /// <summary>Whether the replica's app is this shop: <c>dotnet SHOP.DLL MODE [OPTIONS]</c>, the DLL relative to its working directory or absolute.</summary>
    public bool Runs(ReplicaLaunch replica) =>
        replica.Network is not null
        && Path.GetFileName(replica.AppFileName) == "dotnet"
        && replica.AppArguments.Count > 0
        && Path.GetFullPath(replica.AppArguments[0], replica.WorkingDirectory) == Path.Combine(Built, Dll);

    /// <summary>The plan with every replica that runs the shop running the staged copy, from the stage (pure).</summary>
    public LaunchPlan Apply(LaunchPlan plan) => plan with
    {
        Replicas = [.. plan.Replicas.Select(r => Runs(r)
            ? r with { AppArguments = [Path.Combine(Staged, Dll), .. r.AppArguments.Skip(1)], WorkingDirectory = Staged }
            : r)],
    };

    /// <summary>Copies the shop's build folder into the stage (which <see cref="SidecarStage.Create"/> made).</summary>
    public void Copy()
    {
        try
        {
            SidecarStage.CopyFolder(Built, Staged);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IsolationException($"staging the demo shop in {Staged}: {e.Message}");
        }
    }
}
