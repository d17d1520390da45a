/// Which pings a heartbeat sends, from the plan's `heartbeat:` section, in the healthchecks.io
/// convention: `<url>/start` when a run begins, `<url>` when it succeeds, `<url>/fail` when it fails or
/// ends degraded (or `<url>/<exit code>`, which healthchecks.io also takes).
///
/// ```yaml
/// heartbeat_url: ${HC_PING_URL}
/// heartbeat: { start: true, success: true, failure: exit_code }   # failure: fail | exit_code | off
/// ```
public struct HeartbeatPings: Sendable, Hashable, Codable {
    /// What a failed or degraded run sends.
    public enum Failure: String, Sendable, Hashable, Codable {
        /// `<url>/fail`.
        case fail
        /// `<url>/<exit code>`: `backupctl`'s exit code for the run, never 0.
        case exitCode = "exit_code"
        /// Nothing: the monitor notices the missing success ping instead.
        case off
    }

    public var start: Bool
    public var success: Bool
    public var failure: Failure

    public init(start: Bool = true, success: Bool = true, failure: Failure = .fail) {
        self.start = start
        self.success = success
        self.failure = failure
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        start = try container.decodeIfPresent(Bool.self, forKey: .start) ?? true
        success = try container.decodeIfPresent(Bool.self, forKey: .success) ?? true
        failure = try container.decodeIfPresent(Failure.self, forKey: .failure) ?? .fail
    }

    /// The URL to fetch for `alert` given the check's `url`, or nil when this event sends nothing.
    /// Events other than a run's start and end (pruned, stale, test) send nothing.
    public func url(for alert: Alert, base url: String) -> String? {
        let trimmed = url.hasSuffix("/") ? String(url.dropLast()) : url
        switch alert.event {
        case .started:
            return start ? trimmed + "/start" : nil
        case .succeeded:
            return success ? url : nil
        case .failure, .verificationFailure, .missingCredentials, .diskSpace, .degraded:
            switch failure {
            case .fail: return trimmed + "/fail"
            case .exitCode: return trimmed + "/\(Self.exitCode(for: alert))"
            case .off: return nil
            }
        case .pruned, .stale, .test, .walLag, .walGap, .walConflict:
            return nil
        }
    }

    /// The exit code `backupctl run` ends with for the run `alert` reports.
    static func exitCode(for alert: Alert) -> Int32 {
        if alert.event == .degraded { return ExitCodes.degraded }
        let code = ExitCodes.code(for: alert.error?.code ?? .sourceFailed)
        return code == ExitCodes.success ? ExitCodes.failure : code
    }
}
