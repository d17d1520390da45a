import BackupKit
import BackupKitTesting
import BackupNotifiers
import Crypto
import Foundation
import Testing

/// The reference notifiers and the webhook and SMTP notifiers, against the HTTP receiver and aiosmtpd
/// (STARTTLS, implicit TLS, AUTH). Assertions read what the servers received.
@Suite struct NotifierTests {
    static let webhookSecret = "whsec-test-\(UUID().uuidString.prefix(12))"

    /// The suite must catch each kind of broken notifier, as the check it breaks, with deliveries read
    /// back from the real HTTP receiver.
    @Test(arguments: MisbehavingNotifier.Fault.allCases)
    func theSuiteCatchesABrokenNotifier(fault: MisbehavingNotifier.Fault) async throws {
        let http = try TestHTTPReceiver.load()
        let path = TestHTTPReceiver.uniquePath("broken-\(fault.rawValue.lowercased())")
        let webhook = WebhookNotifier(name: "hook", configuration: .init(url: .value(http.url + path)))
        let down = WebhookNotifier(name: "hook", configuration: .init(url: .value("http://127.0.0.1:1/down"), timeout: 2, maxAttempts: 1))
        // A secret of this test alone: the one that leaks must not fail noSecretInAnyCapturedPayload.
        let secret = "leak-me-\(UUID().uuidString.prefix(8))"
        await expectConformanceFailure(fault.check) {
            try await NotifierConformanceSuite(
                secrets: [secret],
                makeNotifier: { MisbehavingNotifier(fault: fault, base: webhook, secret: secret) },
                deliveries: { http.requests(pathPrefix: path).map(\.text) },
                makeBrokenNotifier: { MisbehavingNotifier(fault: fault, base: down, secret: secret) }
            ).run()
        }
    }

    /// Every child gets every alert: a webhook and an email, read back from the receivers; one child
    /// that is down makes the send throw.
    @Test func theMultiplexingNotifierConforms() async throws {
        let http = try TestHTTPReceiver.load(), smtp = try TestSMTPServer.load()
        let path = TestHTTPReceiver.uniquePath("multiplex"), recipient = TestSMTPServer.uniqueRecipient("multiplex")
        let webhook = WebhookNotifier(name: "hook", configuration: .init(url: .value(http.url + path)))
        let mail = SMTPNotifier(name: "mail", configuration: .init(
            url: "smtp://\(smtp.host):\(smtp.port)", tls: .starttls, username: smtp.user, password: .value(smtp.password),
            from: "backups@example.com", to: [recipient], caFile: smtp.caFile))
        let down = WebhookNotifier(name: "down", configuration: .init(url: .value("http://127.0.0.1:1/down"), timeout: 2, maxAttempts: 1))
        try await NotifierConformanceSuite(
            secrets: [smtp.password],
            makeNotifier: { MultiplexNotifier([webhook, mail]) },
            deliveries: { http.requests(pathPrefix: path).map(\.text) },
            makeBrokenNotifier: { MultiplexNotifier([webhook, down]) }
        ).run()
        #expect(smtp.messages(to: recipient).count == http.requests(pathPrefix: path).count - 1, "every child gets every alert (the broken send's webhook too)")
    }

    @Test(arguments: WebhookNotifier.Style.allCases)
    func theWebhookNotifierConforms(style: WebhookNotifier.Style) async throws {
        let http = try TestHTTPReceiver.load()
        let path = TestHTTPReceiver.uniquePath("conform-\(style.rawValue)")
        let url = http.url + path
        try await NotifierConformanceSuite(
            secrets: [Self.webhookSecret, path],
            makeNotifier: { WebhookNotifier(name: "hook", configuration: .init(url: .value(url), style: style, secret: .value(Self.webhookSecret))) },
            deliveries: { http.requests(pathPrefix: path).map(\.text) },
            makeBrokenNotifier: { WebhookNotifier(name: "hook", configuration: .init(url: .value("http://127.0.0.1:1/down"), timeout: 2, maxAttempts: 1)) }
        ).run()
        let last = try #require(http.requests(pathPrefix: path).last)
        let payload = try #require(try JSONSerialization.jsonObject(with: Data(last.body)) as? [String: Any])
        switch style {
        case .generic: #expect(payload["schema"] as? String == "backupkit.alert.v1" && payload["plan"] as? String == "conformance-plan")
        case .slack: #expect(payload["text"] is String && payload["blocks"] is [Any])
        case .discord: #expect(payload["content"] is String && (payload["embeds"] as? [Any])?.count == 1)
        }
    }

    /// The documented check a receiver does: HMAC-SHA256 of the raw body with the shared secret.
    @Test func aWebhookSignatureChecksOutWithTheDocumentedSecret() async throws {
        let http = try TestHTTPReceiver.load()
        let path = TestHTTPReceiver.uniquePath("signature")
        let notifier = WebhookNotifier(name: "hook", configuration: .init(url: .value(http.url + path), secret: .value(Self.webhookSecret)))
        try await notifier.send(Alert(event: .failure, plan: "app", host: "h", summary: "signed"))
        let request = try #require(http.requests(pathPrefix: path).first)
        let expected = "sha256=" + HMAC<SHA256>.authenticationCode(for: request.body, using: SymmetricKey(data: Array(Self.webhookSecret.utf8))).hexString
        #expect(request.headers["x-backupkit-signature"] == expected)
        #expect(request.headers["x-backupkit-event"] == "failure")
        var tampered = request.body
        tampered[tampered.count / 2] ^= 1
        #expect(WebhookNotifier.signature(of: tampered, secret: Self.webhookSecret) != expected, "a changed body does not verify")
    }

    @Test func webhooksRetryServerErrors() async throws {
        let http = try TestHTTPReceiver.load()
        let name = UUID().uuidString.prefix(8).lowercased()
        let notifier = WebhookNotifier(name: "hook", configuration: .init(url: .value(http.url + "/flaky/2/\(name)")))
        try await notifier.send(Alert(event: .failure, plan: "app", host: "h", summary: "eventually"))
        #expect(http.requests(pathPrefix: "/flaky/2/\(name)").count == 3, "two 500s, then delivered")
    }

    @Test(arguments: [false, true])
    func theSMTPNotifierConforms(implicitTLS: Bool) async throws {
        let smtp = try TestSMTPServer.load()
        let recipient = TestSMTPServer.uniqueRecipient("conform")
        let configuration = SMTPNotifier.Configuration(
            url: implicitTLS ? "smtps://\(smtp.host):\(smtp.implicitPort)" : "smtp://\(smtp.host):\(smtp.port)", tls: implicitTLS ? .implicit : .starttls,
            username: smtp.user, password: .value(smtp.password), from: "backups@example.com", to: [recipient, "second-\(recipient)"], caFile: smtp.caFile)
        var brokenConfiguration = configuration
        brokenConfiguration.password = .value("wrong-password")
        let broken = brokenConfiguration
        try await NotifierConformanceSuite(
            secrets: [smtp.password],
            makeNotifier: { SMTPNotifier(name: "mail", configuration: configuration) },
            deliveries: { smtp.messages(to: recipient).map(\.raw) },
            makeBrokenNotifier: { SMTPNotifier(name: "mail", configuration: broken) }
        ).run()
        let message = try #require(smtp.messages(to: recipient).first)
        #expect(message.tls && message.authUser == smtp.user, "delivered over TLS with AUTH")
        #expect(message.recipients.contains("second-\(recipient)"), "several recipients")
        let headers = message.headers
        #expect(headers["from"] == "backups@example.com")
        #expect(headers["to"] == "\(recipient), second-\(recipient)")
        #expect(headers["date"]?.range(of: #"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} \+0000$"#, options: .regularExpression) != nil, "\(headers["date"] ?? "")")
        #expect(headers["message-id"]?.hasPrefix("<") == true && headers["message-id"]?.hasSuffix(">") == true)
        #expect(headers["subject"] == "[backupctl] conformance-plan: backup FAILED on conformance-host (set 20241130_020000)", "\(headers["subject"] ?? "")")
        #expect(message.body.contains("Artifacts:") && message.body.contains("db_app_20241130_020000.sql.gz"))
    }

    @Test func tlsIsRequiredUnlessThePlanSaysNone() async throws {
        let smtp = try TestSMTPServer.load()
        // The plan's default is STARTTLS required; writing tls: none must be explicit.
        let plan = try PlanLoader(registry: standardRegistry(), environment: [:]).load(yaml: """
            sources: [{ name: d, type: directory, path: /tmp }]
            sinks: [{ name: local, type: local, path: /tmp/x }]
            notify:
              - { name: mail, type: smtp, url: "smtp://\(smtp.host):\(smtp.port)", from: a@example.com, to: [b@example.com] }
              - { name: plain, type: smtp, url: "smtp://\(smtp.host):\(smtp.port)", tls: none, from: a@example.com, to: [b@example.com] }
            """, origin: "p", baseDirectory: "/")
        #expect((plan.notifiers[0].base as? SMTPNotifier)?.configuration.tls == .starttls)
        #expect((plan.notifiers[1].base as? SMTPNotifier)?.configuration.tls == SMTPNotifier.TLSMode.none)
        // This server refuses mail before STARTTLS, so the plain one fails loudly.
        await #expect(throws: BackupError.self) { try await plan.notifiers[1].base.send(Alert(event: .test, plan: "p", host: "h", summary: "plain")) }
    }

    @Test func theIssuePlanExampleIsValid() throws {
        let plan = try PlanLoader(registry: standardRegistry(), environment: [
            "BACKUP_ALERT_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXX", "BACKUP_ALERT_EMAIL": "admin@example.com",
        ]).load(yaml: """
            sources: [{ name: d, type: directory, path: /srv }]
            sinks: [{ name: local, type: local, path: ./backups }]
            notify:
              - name: ops-slack
                type: webhook
                style: slack
                url: ${BACKUP_ALERT_WEBHOOK_URL}
              - name: ops-mail
                type: smtp
                url: smtp://smtp.example.com:587
                tls: starttls
                username: backups@example.com
                password_file: /run/secrets/smtp_password
                from: backups@example.com
                to: ["${BACKUP_ALERT_EMAIL}"]
                events: [failure, verification_failure, missing_credentials, disk_space, degraded, stale]
            """, origin: "backup.yml", baseDirectory: "/srv")
        #expect(plan.notifiers.map(\.name) == ["ops-slack", "ops-mail"])
        #expect(plan.notifiers[0].events == AlertEvent.defaultSelection)
        #expect((plan.notifiers[1].base as? SMTPNotifier)?.configuration.to == ["admin@example.com"])
    }
}

/// Alert JSON for the recording notifier's deliveries.
enum AlertJSON {
    static func encode(_ alert: Alert) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.dateEncodingStrategy = .iso8601
        return Array((try? encoder.encode(alert)) ?? Data())
    }
}
