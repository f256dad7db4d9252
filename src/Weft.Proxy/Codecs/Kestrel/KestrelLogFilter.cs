using Microsoft.Extensions.Logging;

namespace Weft.Proxy.Codecs.Kestrel;

/// <summary>
/// Hides Kestrel's warning 64 ("HTTP/2 is not enabled ... TLS is not enabled"): it is false for our
/// listeners, where ProtocolDetection serves h2c prior knowledge on the same cleartext port, and it
/// would greet every operator at every listener bind. Everything else passes through.
/// </summary>
internal sealed class KestrelLogFilter(ILoggerFactory inner) : ILoggerFactory
{
    private const int Http2DisabledWithoutTls = 64;

    public ILogger CreateLogger(string categoryName)
    {
        var logger = inner.CreateLogger(categoryName);
        return string.Equals(categoryName, "Microsoft.AspNetCore.Server.Kestrel", StringComparison.Ordinal)
            ? new Filtered(logger)
            : logger;
    }

    public void AddProvider(ILoggerProvider provider) => inner.AddProvider(provider);

    // The caller owns the inner factory.
    public void Dispose()
    {
    }

    private sealed class Filtered(ILogger inner) : ILogger
    {
        // No scopes: Kestrel opens one per connection, an AsyncLocal that every request's async code on
        // that connection would then capture and restore at each resume (ExecutionContext.Run), for a
        // connection id our log lines do not print.
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => inner.IsEnabled(logLevel);

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (eventId.Id != Http2DisabledWithoutTls)
                inner.Log(logLevel, eventId, state, exception, formatter);
        }
    }
}
