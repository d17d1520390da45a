import BackupKit
import Foundation

extension PlanRegistry {
    /// Registers the `webhook` and `smtp` notifier types, the ``HeartbeatNotifier`` for `heartbeat_url`,
    /// and the design document's variables for plans built from the environment:
    /// - `BACKUP_ALERT_WEBHOOK_URL` (style guessed from the host: Slack, Discord, else generic),
    ///   `BACKUP_ALERT_WEBHOOK_SECRET` (signs generic payloads);
    /// - `BACKUP_ALERT_EMAIL` (comma-separated recipients) with `BACKUP_SMTP_URL`, `BACKUP_SMTP_USER`,
    ///   `BACKUP_SMTP_PASSWORD` or `BACKUP_SMTP_PASSWORD_FILE`, `BACKUP_SMTP_FROM`, `BACKUP_SMTP_TLS`,
    ///   `BACKUP_SMTP_CA_FILE`;
    /// - `BACKUP_ALERT_EVENTS`: comma-separated events both send (default: the failure events and stale).
    public mutating func registerStandardNotifiers() {
        registerNotifier(type: WebhookNotifier.typeName) { definition, decoder in
            WebhookNotifier(name: definition.name, configuration: try .init(from: decoder, baseDirectory: definition.baseDirectory))
        }
        registerNotifier(type: SMTPNotifier.typeName) { definition, decoder in
            SMTPNotifier(name: definition.name, configuration: try .init(from: decoder, baseDirectory: definition.baseDirectory))
        }
        registerHeartbeat { url, pings in HeartbeatNotifier(url: url, pings: pings) }
        addEnvironmentContribution(to: "notify", reading: ["BACKUP_ALERT_WEBHOOK_URL", "BACKUP_ALERT_WEBHOOK_SECRET", "BACKUP_ALERT_EVENTS"]) { environment in
            guard let url = environment["BACKUP_ALERT_WEBHOOK_URL"], !url.isEmpty else { return [] }
            var webhook: [String: JSONValue] = ["name": .string("webhook"), "type": .string(WebhookNotifier.typeName), "url": .string(url),
                                                "style": .string(WebhookNotifier.Style.guess(for: url).rawValue)]
            if let secret = environment["BACKUP_ALERT_WEBHOOK_SECRET"], !secret.isEmpty { webhook["secret"] = .string(secret) }
            if let events = alertEvents(environment) { webhook["events"] = events }
            return [.object(webhook)]
        }
        addEnvironmentContribution(to: "notify", reading: ["BACKUP_ALERT_EMAIL", "BACKUP_SMTP_URL", "BACKUP_SMTP_USER", "BACKUP_SMTP_PASSWORD", "BACKUP_SMTP_PASSWORD_FILE",
                                             "BACKUP_SMTP_FROM", "BACKUP_SMTP_TLS", "BACKUP_SMTP_CA_FILE", "BACKUP_ALERT_EVENTS"]) { environment in
            guard let recipients = environment["BACKUP_ALERT_EMAIL"], !recipients.isEmpty else { return [] }
            guard let url = environment["BACKUP_SMTP_URL"], !url.isEmpty else {
                throw BackupError(.invalidPlan, "BACKUP_ALERT_EMAIL is set but BACKUP_SMTP_URL is not: set it to the mail server, such as smtp://smtp.example.com:587")
            }
            var mail: [String: JSONValue] = [
                "name": .string("email"), "type": .string(SMTPNotifier.typeName), "url": .string(url),
                "from": .string(environment["BACKUP_SMTP_FROM"] ?? "backupctl@\(currentHostName())"),
                "to": .array(recipients.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) }),
            ]
            if let user = environment["BACKUP_SMTP_USER"] { mail["username"] = .string(user) }
            if let file = environment["BACKUP_SMTP_PASSWORD_FILE"] {
                mail["password_file"] = .string(file)
            } else if let password = environment["BACKUP_SMTP_PASSWORD"] {
                mail["password"] = .string(password)
            }
            if let tls = environment["BACKUP_SMTP_TLS"] { mail["tls"] = .string(tls) }
            if let ca = environment["BACKUP_SMTP_CA_FILE"] { mail["ca_file"] = .string(ca) }
            if let events = alertEvents(environment) { mail["events"] = events }
            return [.object(mail)]
        }
    }
}

/// `BACKUP_ALERT_EVENTS` as a plan's `events:` list.
private func alertEvents(_ environment: [String: String]) -> JSONValue? {
    environment["BACKUP_ALERT_EVENTS"].map { list in
        .array(list.split(separator: ",").map { .string($0.trimmingCharacters(in: .whitespaces)) })
    }
}
