import BackupKit
import BackupTransport

/// Fetches a heartbeat URL (healthchecks.io, Uptime Kuma push monitors) as a run starts and ends, so
/// that a run that fails, hangs or never happens is noticed by someone else: `<url>/start` when it
/// begins, `<url>` when it succeeds, `<url>/fail` (or `<url>/<exit code>`) when it fails or ends
/// degraded, as ``pings`` (the plan's `heartbeat:` section) says. Other events are ignored. It is the
/// plan's ``BackupPlan/heartbeat`` (from `heartbeat_url`), not one of its `notify:` entries: the runner
/// sends it the `started` alert first and the outcome's alert before it records the run, and turns
/// its failure into a warning; a heartbeat never changes a run's outcome.
///
/// The URL is a secret (it holds the check's token): messages name only its scheme and host. Each
/// fetch has a 10-second timeout and is retried on connection failures, 429 and 5xx.
public struct HeartbeatNotifier: Notifier {
    public let name: String
    public let url: Secret
    public let pings: HeartbeatPings
    let retry: RetryPolicy
    let transport: any HTTPTransport

    public init(name: String = "heartbeat", url: Secret, pings: HeartbeatPings = HeartbeatPings()) {
        self.init(name: name, url: url, pings: pings, retry: RetryPolicy(maxAttempts: 3, initialDelay: .seconds(1)), transport: CurlHTTPTransport())
    }

    package init(name: String = "heartbeat", url: Secret, pings: HeartbeatPings = HeartbeatPings(), retry: RetryPolicy, transport: any HTTPTransport) {
        self.name = name
        self.url = url
        self.pings = pings
        self.retry = retry
        self.transport = transport
    }

    public func send(_ alert: Alert) async throws {
        let base: String
        do {
            base = try url.reveal()
        } catch {
            throw BackupError(.io, "the heartbeat URL could not be read: \(readableDescription(of: error))")
        }
        guard let address = pings.url(for: alert, base: base) else { return }
        let shown = Redaction.redactURLPath(address)
        let request = HTTPRequest(method: "GET", url: address, timeout: 10)
        let transport = transport
        try await retry.run("the heartbeat (\(shown))") { _ in
            let response: HTTPResponse
            do {
                response = try await runBlocking { try transport.send(request) }
            } catch let error as BackupError {
                throw BackupError(.unreachable, "the heartbeat URL (\(shown)) could not be reached", kind: error.kind)
            }
            try response.requireSuccess("the heartbeat URL (\(shown))")
        }
    }
}
