namespace Weft.Control.Registry;

/// <summary>A registration the registry refuses: the instance id is another service's, or a live instance's.</summary>
public sealed class WorkloadConflictException(string message) : InvalidOperationException(message);
