import BackupKit
import BackupTransport
import Crypto
import Foundation

/// Posts alerts to an HTTP endpoint: Slack and Discord incoming webhooks, or any receiver that takes
/// BackupKit's JSON (`generic`, signed with HMAC-SHA256 when a secret is set).
///
/// The URL is treated as a secret (Slack and Discord keep their token in its path): messages name only
/// its scheme and host. Each delivery has a timeout and is retried on connection failures, 429 and 5xx.
///
/// ```yaml
/// notify:
///   - name: ops-slack
///     type: webhook
///     style: slack               # generic (default), slack or discord
///     url: ${BACKUP_ALERT_WEBHOOK_URL}
/// ```
public struct WebhookNotifier: Notifier {
    /// The plan file's `type:` for this notifier.
    public static let typeName = "webhook"

    public enum Style: String, Sendable, Hashable, Codable, CaseIterable {
        case generic, slack, discord

        /// The style a URL's host suggests, for `BACKUP_ALERT_WEBHOOK_URL` without a plan.
        public static func guess(for url: String) -> Style {
            if url.contains("hooks.slack.com") { return .slack }
            if url.contains("discord.com/api/webhooks") || url.contains("discordapp.com/api/webhooks") { return .discord }
            return .generic
        }
    }

    public struct Configuration: Sendable, Hashable {
        public var url: Secret
        public var style: Style
        /// Signs `generic` payloads: `X-BackupKit-Signature: sha256=<hex HMAC-SHA256 of the body>`.
        public var secret: Secret?
        /// Extra request headers, such as `Authorization`; their values are treated as secrets.
        public var headers: [String: Secret]
        /// Per attempt. Default 10 seconds.
        public var timeout: Double
        /// Default 3.
        public var maxAttempts: Int
        public var caFile: String?

        public init(url: Secret, style: Style = .generic, secret: Secret? = nil, headers: [String: Secret] = [:], timeout: Double = 10,
                    maxAttempts: Int = 3, caFile: String? = nil) {
            self.url = url
            self.style = style
            self.secret = secret
            self.headers = headers
            self.timeout = timeout
            self.maxAttempts = maxAttempts
            self.caFile = caFile
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case url, style, secret, headers, timeout
            case urlFile = "url_file"
            case secretFile = "secret_file"
            case maxAttempts = "max_attempts"
            case caFile = "ca_file"
        }

        public init(from decoder: any Decoder, baseDirectory: String) throws {
            let container = try decoder.strictContainer(keyedBy: CodingKeys.self, alsoAllowed: PlanKeys.notifier)
            guard let url = try container.decodeSecretIfPresent(.url, fileKey: .urlFile, resolvingPathsAgainst: baseDirectory) else {
                throw DecodingError.keyNotFound(CodingKeys.url, .init(codingPath: container.codingPath, debugDescription: "a webhook needs 'url' (or 'url_file')"))
            }
            if case .value(let text) = url.storage {
                guard let parsed = URL(string: text), ["http", "https"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                    throw invalidValue(.url, in: container, "the webhook URL is empty or not an http(s) URL; is the variable it comes from set?")
                }
            }
            self.url = url
            let styleName = try container.decodeIfPresent(String.self, forKey: .style) ?? "generic"
            guard let style = Style(rawValue: styleName) else {
                throw invalidValue(.style, in: container, "unknown style '\(styleName)'; use generic, slack or discord")
            }
            self.style = style
            secret = try container.decodeSecretIfPresent(.secret, fileKey: .secretFile, resolvingPathsAgainst: baseDirectory)
            headers = try container.decodeIfPresent([String: Secret].self, forKey: .headers) ?? [:]
            timeout = try container.decodeIfPresent(PlanDuration.self, forKey: .timeout)?.seconds ?? 10
            maxAttempts = try container.decodeIfPresent(Int.self, forKey: .maxAttempts) ?? 3
            guard (1...10).contains(maxAttempts) else { throw invalidValue(.maxAttempts, in: container, "must be between 1 and 10") }
            caFile = try container.decodeIfPresent(String.self, forKey: .caFile).map { resolvePath($0, against: baseDirectory) }
        }
    }

    public let name: String
    public let configuration: Configuration

    public init(name: String, configuration: Configuration) {
        self.name = name
        self.configuration = configuration
    }

    /// The body this notifier sends for an alert.
    public func payload(for alert: Alert) -> [UInt8] {
        switch configuration.style {
        case .generic: AlertPayloads.generic(alert)
        case .slack: AlertPayloads.slack(alert)
        case .discord: AlertPayloads.discord(alert)
        }
    }

    /// The `X-BackupKit-Signature` value for a body: `sha256=` and the hex HMAC-SHA256 keyed with the secret.
    public static func signature(of body: [UInt8], secret: String) -> String {
        "sha256=" + HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Array(secret.utf8))).hexString
    }

    public func send(_ alert: Alert) async throws {
        let body = payload(for: alert)
        let url = try configuration.url.reveal()
        let where_ = Redaction.redactURLPath(url)
        var headers = ["Content-Type: application/json", "User-Agent: backupctl/\(BackupKitVersion.current)",
                       "X-BackupKit-Event: \(alert.event.rawValue)", "X-BackupKit-Delivery: \(UUID().uuidString.lowercased())"]
        if let secret = configuration.secret, configuration.style == .generic {
            headers.append("X-BackupKit-Signature: \(Self.signature(of: body, secret: try secret.reveal()))")
        }
        for (name, value) in configuration.headers.sorted(by: { $0.key < $1.key }) { headers.append("\(name): \(try value.reveal())") }
        let request = HTTPRequest(method: "POST", url: url, headers: headers, body: .bytes(body), timeout: configuration.timeout)
        let transport = CurlHTTPTransport(caFile: configuration.caFile)
        let name = name
        do {
            try await RetryPolicy(maxAttempts: configuration.maxAttempts).run("webhook '\(name)' (\(where_))") { _ in
                try await runBlocking { try transport.send(request) }.requireSuccess("webhook '\(name)' (\(where_))")
            }
        } catch let error as BackupError {
            // The URL is a secret: describe failures by host only.
            throw BackupError(.io, Redaction.redact(error.message.replacingOccurrences(of: url, with: where_), secrets: [url]), kind: error.kind)
        }
    }
}
