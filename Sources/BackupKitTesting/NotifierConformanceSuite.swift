import BackupKit
import Foundation

/// The one test suite every ``Notifier`` passes, ours and yours, from any test framework:
///
/// ```swift
/// try await NotifierConformanceSuite(secrets: [token], makeNotifier: { MyNotifier(...) },
///                                    deliveries: { try readWhatMyReceiverGot() }).run()
/// ```
///
/// `deliveries` returns everything the notifier's destination has received so far, as text (request
/// bodies, email messages). The suite checks that each send delivers exactly one message carrying the
/// alert; that every kind of event is delivered; that none of `secrets` (the notifier's own password,
/// token or URL) ever appears in what was delivered; and, given `makeBrokenNotifier`, that a notifier
/// whose destination is down throws rather than failing silently.
public struct NotifierConformanceSuite: Sendable {
    public var secrets: [String]
    public var makeNotifier: @Sendable () async throws -> any Notifier
    public var deliveries: @Sendable () async throws -> [String]
    public var makeBrokenNotifier: (@Sendable () async throws -> any Notifier)?
    /// How long to wait for a delivery to show up (mail servers write files asynchronously).
    public var settleTime: Double

    public init(secrets: [String] = [], settleTime: Double = 5, makeNotifier: @escaping @Sendable () async throws -> any Notifier,
                deliveries: @escaping @Sendable () async throws -> [String],
                makeBrokenNotifier: (@Sendable () async throws -> any Notifier)? = nil) {
        self.secrets = secrets
        self.settleTime = settleTime
        self.makeNotifier = makeNotifier
        self.deliveries = deliveries
        self.makeBrokenNotifier = makeBrokenNotifier
    }

    public func run() async throws {
        let notifier = try await makeNotifier()
        let marker = "conformance-\(UUID().uuidString.prefix(8).lowercased())"

        // One send, one delivery, carrying the alert.
        let before = try await deliveries().count
        try await notifier.send(Self.alert(.failure, marker: marker))
        let afterOne = try await waitForDeliveries(atLeast: before + 1, from: notifier, marker: marker)
        try expect(afterOne.count == before + 1, .oneDeliveryPerSend, "one send produced \(afterOne.count - before) deliveries")
        let delivered = afterOne.last!
        try expect(delivered.contains(marker), .carriesTheAlert, "the delivery does not contain the alert's summary")
        try expect(delivered.contains("conformance-plan"), .carriesTheAlert, "the delivery does not name the plan")

        // Every kind of event goes through.
        for event in AlertEvent.allCases {
            try await notifier.send(Self.alert(event, marker: "\(marker)-\(event.rawValue)"))
        }
        let all = try await waitForDeliveries(atLeast: before + 1 + AlertEvent.allCases.count, from: notifier, marker: marker)
        try expect(all.count == before + 1 + AlertEvent.allCases.count, .everyEvent,
                   "\(AlertEvent.allCases.count) sends produced \(all.count - before - 1) deliveries")
        for event in AlertEvent.allCases {
            try expect(all.contains { $0.contains("\(marker)-\(event.rawValue)") }, .everyEvent, "the '\(event.rawValue)' alert was not delivered")
        }

        // No secret in anything delivered.
        for secret in secrets where !secret.isEmpty {
            try expect(!all.contains { $0.contains(secret) }, .noSecrets, "a delivery contains one of the notifier's secrets")
        }

        // A destination that is down is an error, not silence.
        if let makeBrokenNotifier {
            let broken = try await makeBrokenNotifier()
            var failed = false
            do { try await broken.send(Self.alert(.failure, marker: marker)) } catch { failed = true }
            try expect(failed, .failureThrows, "send() to a destination that is down returned normally")
        }
    }

    static func alert(_ event: AlertEvent, marker: String) -> Alert {
        Alert(event: event, plan: "conformance-plan", host: "conformance-host", set: "20241130_020000",
              summary: "Backup of conformance-plan: \(event.rawValue) \(marker)",
              error: event == .succeeded ? nil : ReportedError(code: .sourceFailed, message: "pg_dump exited with status 1 \(marker)"),
              artifacts: [AlertArtifact(name: "db_app_20241130_020000.sql.gz", source: "db", size: 1_234_567, durationSeconds: 12.5)],
              sinks: [SinkOutcome(sink: "local", status: .stored), SinkOutcome(sink: "offsite", status: .failed, error: "timeout")])
    }

    /// The deliveries once at least `count` have arrived and so has a fence alert sent after them: by then
    /// a notifier that delivers a send twice has shown it. The fences themselves are left out.
    private func waitForDeliveries(atLeast count: Int, from notifier: any Notifier, marker: String) async throws -> [String] {
        let fence = "\(marker)-fence-\(count)"
        try await notifier.send(Self.alert(.test, marker: fence))
        let deadline = Date().addingTimeInterval(settleTime)
        while true {
            let current = try await deliveries()
            let withoutFences = current.filter { !$0.contains("\(marker)-fence-") }
            if (withoutFences.count >= count && current.contains { $0.contains(fence) }) || Date() >= deadline { return withoutFences }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
