using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Abstractions;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace Weft.Proxy.Codecs.Kestrel;

/// <summary>A request handler for a listener or the admin endpoint.</summary>
internal interface IRequestHandler
{
    Task HandleAsync(HttpContext context);
}

/// <summary>
/// Kestrel's application without the ASP.NET Core hosting layer: reuses the HttpContext Kestrel keeps
/// per connection (as the hosting layer does) and calls one handler. No middleware, no DI scope.
/// </summary>
internal sealed class DelegateApplication(IRequestHandler handler) : IHttpApplication<DefaultHttpContext>
{
    public DefaultHttpContext CreateContext(IFeatureCollection contextFeatures)
    {
        if (contextFeatures is IHostContextContainer<DefaultHttpContext> container)
        {
            var context = container.HostContext;
            if (context is null)
            {
                context = new DefaultHttpContext(contextFeatures);
                container.HostContext = context;
            }
            else
            {
                context.Initialize(contextFeatures);
            }
            return context;
        }
        return new DefaultHttpContext(contextFeatures);
    }

    public Task ProcessRequestAsync(DefaultHttpContext context) => handler.HandleAsync(context);

    public void DisposeContext(DefaultHttpContext context, Exception? exception) => context.Uninitialize();
}
