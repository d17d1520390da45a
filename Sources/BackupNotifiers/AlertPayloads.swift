import BackupKit
import Foundation

/// The bodies the webhook styles send, and the plain-text report emails carry. Everything comes from the
/// alert, which is already free of secrets; nothing else is added.
enum AlertPayloads {
    /// The `generic` style: BackupKit's documented JSON schema (`backupkit.alert.v1`).
    static func generic(_ alert: Alert) -> [UInt8] {
        var object: [String: JSONValue] = [
            "schema": .string("backupkit.alert.v1"),
            "event": .string(alert.event.rawValue),
            "plan": .string(alert.plan),
            "host": .string(alert.host),
            "set": alert.set.map { .string($0) } ?? .null,
            "time": .string(iso8601(alert.time)),
            "summary": .string(alert.summary),
            "error": alert.error.map { .object(["code": .string($0.code.rawValue), "message": .string($0.message)]) } ?? .null,
            "artifacts": .array(alert.artifacts.map { artifact in
                .object(["name": .string(artifact.name), "source": .string(artifact.source), "size": .integer(artifact.size),
                         "duration_seconds": .number(artifact.durationSeconds)])
            }),
            "sinks": .array(alert.sinks.map { sink in
                .object(["sink": .string(sink.sink), "status": .string(sink.status.rawValue), "error": sink.error.map { .string($0) } ?? .null])
            }),
        ]
        object["total_size"] = .integer(alert.artifacts.reduce(0) { $0 + $1.size })
        return encode(.object(object))
    }

    /// Slack's incoming-webhook format: `text` for notifications, `blocks` for the message.
    static func slack(_ alert: Alert) -> [UInt8] {
        var fields: [JSONValue] = [
            .object(["type": .string("mrkdwn"), "text": .string("*Plan*\n\(alert.plan)")]),
            .object(["type": .string("mrkdwn"), "text": .string("*Host*\n\(alert.host)")]),
        ]
        if let set = alert.set { fields.append(.object(["type": .string("mrkdwn"), "text": .string("*Set*\n\(set)")])) }
        fields.append(.object(["type": .string("mrkdwn"), "text": .string("*Event*\n\(alert.event.rawValue)")]))
        var blocks: [JSONValue] = [
            .object(["type": .string("section"), "text": .object(["type": .string("mrkdwn"), "text": .string("\(icon(alert.event)) *\(escapeSlack(alert.summary))*")])]),
            .object(["type": .string("section"), "fields": .array(fields)]),
        ]
        if !alert.artifacts.isEmpty {
            let lines = alert.artifacts.map { "`\($0.name)` \(formatBytes($0.size)) in \(formatDuration($0.durationSeconds))" }
            blocks.append(.object(["type": .string("section"), "text": .object(["type": .string("mrkdwn"), "text": .string(lines.joined(separator: "\n"))])]))
        }
        if let error = alert.error {
            blocks.append(.object(["type": .string("section"), "text": .object(["type": .string("mrkdwn"), "text": .string("*Error* (`\(error.code.rawValue)`)\n```\(escapeSlack(error.message))```")])]))
        }
        blocks.append(.object(["type": .string("context"), "elements": .array([.object(["type": .string("mrkdwn"), "text": .string("backupctl · \(iso8601(alert.time))")])])]))
        return encode(.object(["text": .string("\(icon(alert.event)) \(alert.summary)"), "blocks": .array(blocks)]))
    }

    /// Discord's webhook format: `content` plus one embed.
    static func discord(_ alert: Alert) -> [UInt8] {
        var fields: [JSONValue] = [
            .object(["name": .string("Plan"), "value": .string(alert.plan), "inline": .bool(true)]),
            .object(["name": .string("Host"), "value": .string(alert.host), "inline": .bool(true)]),
            .object(["name": .string("Event"), "value": .string(alert.event.rawValue), "inline": .bool(true)]),
        ]
        if let set = alert.set { fields.append(.object(["name": .string("Set"), "value": .string(set), "inline": .bool(true)])) }
        if !alert.artifacts.isEmpty {
            let lines = alert.artifacts.map { "\($0.name) — \(formatBytes($0.size))" }
            fields.append(.object(["name": .string("Artifacts"), "value": .string(String(lines.joined(separator: "\n").prefix(1000))), "inline": .bool(false)]))
        }
        if let error = alert.error {
            fields.append(.object(["name": .string("Error (\(error.code.rawValue))"), "value": .string(String(error.message.prefix(1000))), "inline": .bool(false)]))
        }
        let embed: JSONValue = .object([
            "title": .string("\(alert.plan): \(alert.event.rawValue)"), "description": .string(String(alert.summary.prefix(2000))),
            "color": .integer(color(alert.event)), "fields": .array(fields), "timestamp": .string(iso8601(alert.time)),
        ])
        return encode(.object(["username": .string("backupctl"), "content": .string(String("\(icon(alert.event)) \(alert.summary)".prefix(2000))),
                               "embeds": .array([embed])]))
    }

    /// The plain-text run report an email carries.
    static func textReport(_ alert: Alert) -> String {
        var lines = [alert.summary, ""]
        lines.append("Event:  \(alert.event.rawValue)")
        lines.append("Plan:   \(alert.plan)")
        lines.append("Host:   \(alert.host)")
        lines.append("Set:    \(alert.set ?? "none")")
        lines.append("Time:   \(iso8601(alert.time))")
        if let error = alert.error {
            lines += ["", "Error (\(error.code.rawValue)):", "  \(error.message)"]
        }
        if !alert.artifacts.isEmpty {
            lines += ["", "Artifacts:"]
            lines += alert.artifacts.map { "  \($0.name)  \(formatBytes($0.size))  \(formatDuration($0.durationSeconds))" }
        }
        if !alert.sinks.isEmpty {
            lines += ["", "Sinks:"]
            lines += alert.sinks.map { "  \($0.sink): \($0.status.rawValue)\($0.error.map { " — \($0)" } ?? "")" }
        }
        lines += ["", "-- ", "backupctl \(BackupKitVersion.current)"]
        return lines.joined(separator: "\n")
    }

    static func icon(_ event: AlertEvent) -> String {
        switch event {
        case .succeeded: "✅"
        case .pruned, .test, .started: "ℹ️"
        case .degraded, .stale: "⚠️"
        default: "🚨"
        }
    }

    static func color(_ event: AlertEvent) -> Int64 {
        switch event {
        case .succeeded: 0x2EB67D
        case .pruned, .test, .started: 0x3B82F6
        case .degraded, .stale: 0xECB22E
        default: 0xE01E5A
        }
    }

    static func escapeSlack(_ text: String) -> String {
        text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }

    static func iso8601(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.string(from: date)
    }

    static func encode(_ value: JSONValue) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array((try? encoder.encode(value)) ?? Data("{}".utf8))
    }
}
