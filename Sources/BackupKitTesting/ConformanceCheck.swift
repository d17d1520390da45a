/// The checks of ``SinkConformanceSuite`` and ``NotifierConformanceSuite``. A ``ConformanceFailure``
/// names the one that failed, so a test can tell a sink that buffers from one that is not atomic.
public enum ConformanceCheck: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// The sink does not start empty.
    case setup
    /// ``Sink/preflight()`` passes on a healthy sink and leaves nothing listed.
    case preflight
    case putGetListDelete = "put-get-list-delete"
    case notFound = "not-found"
    case overwrite
    case largeArtifact = "large-artifact"
    case failedPut = "failed-put"
    /// ``SinkConformanceSuite/checkBoundedMemory()``: resident memory stays bounded while streaming.
    case boundedMemory = "bounded-memory"

    case oneDeliveryPerSend = "one-delivery-per-send"
    case carriesTheAlert = "carries-the-alert"
    case everyEvent = "every-event"
    case noSecrets = "no-secrets"
    case failureThrows = "failure-throws"

    public var description: String { rawValue }
}
