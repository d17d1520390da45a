import BackupKit
import BackupTransport
import CCurl
import Foundation

/// Emails alerts over SMTP through libcurl: STARTTLS required by default (`smtp://`), or implicit TLS
/// (`smtps://`), with AUTH and several recipients. Each message is a plain RFC 5322 message with Date,
/// Message-ID, From, To and a Subject that names the plan and the event; the body is the run report.
///
/// ```yaml
/// notify:
///   - name: ops-mail
///     type: smtp
///     url: smtp://smtp.example.com:587
///     tls: starttls                # the default; or implicit, or none (only when written out)
///     username: backups@example.com
///     password_file: /run/secrets/smtp_password
///     from: backups@example.com
///     to: ["${BACKUP_ALERT_EMAIL}"]
/// ```
public struct SMTPNotifier: Notifier {
    /// The plan file's `type:` for this notifier.
    public static let typeName = "smtp"

    public enum TLSMode: String, Sendable, Hashable, Codable {
        /// `smtp://` upgraded with STARTTLS; a server that does not offer it is refused.
        case starttls
        /// `smtps://`: TLS from the first byte.
        case implicit
        /// No TLS at all: only when the plan says so.
        case none
    }

    public struct Configuration: Sendable, Hashable {
        /// `smtp://host:587` or `smtps://host:465`.
        public var url: String
        public var tls: TLSMode
        public var username: String?
        public var password: Secret?
        public var from: String
        public var to: [String]
        public var caFile: String?
        public var timeout: Double

        public init(url: String, tls: TLSMode = .starttls, username: String? = nil, password: Secret? = nil, from: String, to: [String],
                    caFile: String? = nil, timeout: Double = 30) {
            self.url = url
            self.tls = tls
            self.username = username
            self.password = password
            self.from = from
            self.to = to
            self.caFile = caFile
            self.timeout = timeout
        }

        enum CodingKeys: String, CodingKey, CaseIterable {
            case url, tls, username, password, from, to, timeout
            case passwordFile = "password_file"
            case caFile = "ca_file"
        }

        public init(from decoder: any Decoder, baseDirectory: String) throws {
            let container = try decoder.strictContainer(keyedBy: CodingKeys.self, alsoAllowed: PlanKeys.notifier)
            url = try container.decode(String.self, forKey: .url)
            guard let parsed = URLComponents(string: url), ["smtp", "smtps"].contains(parsed.scheme ?? ""), parsed.host != nil else {
                throw invalidValue(.url, in: container, "'\(Redaction.redactURLCredentials(url))' is not an smtp:// or smtps:// URL")
            }
            guard parsed.password == nil else {
                throw invalidValue(.url, in: container, "put the password in password_file (or password: ${VAR}), not in the URL")
            }
            let tlsName = try container.decodeIfPresent(String.self, forKey: .tls) ?? (parsed.scheme == "smtps" ? "implicit" : "starttls")
            guard let tls = TLSMode(rawValue: tlsName) else {
                throw invalidValue(.tls, in: container, "unknown tls '\(tlsName)'; use starttls (the default), implicit or none")
            }
            if parsed.scheme == "smtps" && tls != .implicit {
                throw invalidValue(.tls, in: container, "an smtps:// URL means implicit TLS; write tls: implicit or use smtp://")
            }
            self.tls = tls
            username = try container.decodeIfPresent(String.self, forKey: .username)
            password = try container.decodeSecretIfPresent(.password, fileKey: .passwordFile, resolvingPathsAgainst: baseDirectory)
            from = try container.decode(String.self, forKey: .from)
            to = try container.decode([String].self, forKey: .to).filter { !$0.isEmpty }
            guard !to.isEmpty else {
                throw invalidValue(.to, in: container, "list at least one recipient (is BACKUP_ALERT_EMAIL set?)")
            }
            for address in [from] + to where !address.contains("@") || address.contains("\n") || address.contains("\r") {
                throw invalidValue(.to, in: container, "'\(address)' is not an email address")
            }
            caFile = try container.decodeIfPresent(String.self, forKey: .caFile).map { resolvePath($0, against: baseDirectory) }
            timeout = try container.decodeIfPresent(PlanDuration.self, forKey: .timeout)?.seconds ?? 30
        }
    }

    public let name: String
    public let configuration: Configuration

    public init(name: String, configuration: Configuration) {
        self.name = name
        self.configuration = configuration
    }

    /// The complete message for an alert, with CRLF line ends.
    public func message(for alert: Alert, date: Date = Date()) -> [UInt8] {
        let subject = "[backupctl] \(alert.plan): \(Self.subjectWord(alert.event)) on \(alert.host)\(alert.set.map { " (set \($0))" } ?? "")"
        let headers = [
            "Date: \(Self.rfc5322Date(date))",
            "Message-ID: <\(UUID().uuidString.lowercased()).backupctl@\(alert.host.isEmpty ? "localhost" : alert.host)>",
            "From: \(configuration.from)",
            "To: \(configuration.to.joined(separator: ", "))",
            "Subject: \(Self.encodeHeader(subject))",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            "X-BackupKit-Event: \(alert.event.rawValue)",
            "Auto-Submitted: auto-generated",
        ]
        // libcurl does SMTP dot-stuffing itself; lines are kept within RFC 5322's 998 characters.
        let body = AlertPayloads.textReport(alert).replacingOccurrences(of: "\r\n", with: "\n").split(separator: "\n", omittingEmptySubsequences: false)
            .map { String($0.prefix(990)) }
        return Array((headers.joined(separator: "\r\n") + "\r\n\r\n" + body.joined(separator: "\r\n") + "\r\n").utf8)
    }

    public func send(_ alert: Alert) async throws {
        let message = message(for: alert)
        let password = try configuration.password?.reveal()
        // A refused or broken connection is retried; the server refusing the login or the message is not.
        try await RetryPolicy(maxAttempts: 3).run("smtp notifier '\(name)'") { _ in
            try await runBlocking { try deliver(message, password: password) }
        }
    }

    /// One SMTP session that sends `message`; blocking.
    func deliver(_ message: [UInt8], password: String?) throws {
        var url = configuration.url
        if configuration.tls == .implicit, url.hasPrefix("smtp://") { url = "smtps://" + url.dropFirst("smtp://".count) }
        let curl = try CurlRequest(url: url)
        switch configuration.tls {
        case .starttls, .implicit: try curl.set(CURLOPT_USE_SSL, Int(CURLUSESSL_ALL.rawValue))
        case .none: try curl.set(CURLOPT_USE_SSL, Int(CURLUSESSL_NONE.rawValue))
        }
        if let caFile = configuration.caFile { try curl.set(CURLOPT_CAINFO, caFile) }
        if let username = configuration.username { try curl.set(CURLOPT_USERNAME, username) }
        if let password { try curl.set(CURLOPT_PASSWORD, password) }
        try curl.set(CURLOPT_MAIL_FROM, "<\(configuration.from)>")
        try curl.setQuote(CURLOPT_MAIL_RCPT, configuration.to.map { "<\($0)>" })
        try curl.set(CURLOPT_UPLOAD, 1)
        try curl.set(CURLOPT_TIMEOUT_MS, Int(configuration.timeout * 1000))
        try curl.setBody(message)
        do {
            _ = try curl.perform()
        } catch let error as BackupError {
            throw BackupError(.io, "smtp notifier '\(name)' (\(Redaction.redactURLCredentials(configuration.url))): \(Redaction.redact(error.message, secrets: password.map { [$0] } ?? []))",
                              kind: error.kind)
        }
    }

    static func subjectWord(_ event: AlertEvent) -> String {
        switch event {
        case .failure: "backup FAILED"
        case .verificationFailure: "verification FAILED"
        case .missingCredentials: "missing credentials"
        case .diskSpace: "disk space"
        case .degraded: "backup DEGRADED"
        case .started: "backup started"
        case .succeeded: "backup succeeded"
        case .pruned: "old sets pruned"
        case .stale: "backups are STALE"
        case .test: "test alert"
        case .walLag: "WAL archiving LAGS"
        case .walGap: "WAL GAP"
        case .walConflict: "WAL CONFLICT"
        }
    }

    /// `Tue, 26 Nov 2026 16:41:04 +0000`.
    static func rfc5322Date(_ date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return formatter.string(from: date)
    }

    /// An RFC 2047 encoded word for a header with non-ASCII text; ASCII stays as it is.
    static func encodeHeader(_ text: String) -> String {
        let clean = text.replacingOccurrences(of: "\r", with: " ").replacingOccurrences(of: "\n", with: " ")
        guard !clean.allSatisfy(\.isASCII) else { return clean }
        return "=?UTF-8?B?\(Data(clean.utf8).base64EncodedString())?="
    }
}
