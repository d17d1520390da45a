import BackupKit
import BackupTransport

/// Fetches a heartbeat URL (healthchecks.io, Uptime Kuma push monitors) for each successful run, so
/// that a run that never happens is noticed by someone else. Every other event is ignored. It is the
/// plan's ``BackupPlan/heartbeat`` (from `heartbeat_url`), not one of its `notify:` entries: the runner
/// sends it the success alert before it records the run, and turns its failure into a warning; a
/// heartbeat never changes a run's outcome.
///
/// The URL is a secret (it holds the check's token): messages name only its scheme and host. Each
/// fetch has a 10-second timeout and is retried on connection failures, 429 and 5xx.
public struct HeartbeatNotifier: Notifier {
    public let name: String
    public let url: Secret
    let retry: RetryPolicy
    let transport: any HTTPTransport

    public init(name: String = "heartbeat", url: Secret) {
        self.init(name: name, url: url, retry: RetryPolicy(maxAttempts: 3, initialDelay: .seconds(1)), transport: CurlHTTPTransport())
    }

    package init(name: String = "heartbeat", url: Secret, retry: RetryPolicy, transport: any HTTPTransport) {
        self.name = name
        self.url = url
        self.retry = retry
        self.transport = transport
    }

    public func send(_ alert: Alert) async throws {
        guard alert.event == .succeeded else { return }
        let address: String
        do {
            address = try url.reveal()
        } catch {
            throw BackupError(.io, "the heartbeat URL could not be read: \(error)")
        }
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
