namespace Weft.Cli.Up;

/// <summary>
/// The one console every supervised process writes through: each line is written whole, under a
/// lock, with its process's tag in front, so lines of different processes never interleave.
/// </summary>
internal sealed class ConsoleTagWriter(TextWriter output)
{
    private readonly Lock _gate = new();
    private volatile bool _gone;

    public void WriteLine(string tag, string line)
    {
        // A console that went away does not come back: skip the work (and an exception per line).
        if (_gone) return;
        // One string, one write: a writer may otherwise flush between the tag and the text.
        var text = string.Concat("[", tag, "] ", line);
        lock (_gate)
        {
            try
            {
                output.WriteLine(text);
            }
            catch (IOException)
            {
                // The console is gone (`weft up | head` ended): drop lines from now on. Throwing would
                // stop the caller reading the child's pipe, and a child blocked on a full pipe stops serving.
                _gone = true;
            }
        }
    }
}
