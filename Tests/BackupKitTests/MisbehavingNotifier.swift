import BackupKit
import BackupKitTesting

/// A deliberately broken notifier: it sends through a real one, but with one fault the conformance suite
/// must catch, as the check that fault breaks.
struct MisbehavingNotifier: Notifier {
    enum Fault: String, CaseIterable, Sendable {
        case sendsTwice, misnamesThePlan, dropsPrunedAlerts, leaksItsSecret, swallowsErrors

        /// The check that must fail.
        var check: ConformanceCheck {
            switch self {
            case .sendsTwice: .oneDeliveryPerSend
            case .misnamesThePlan: .carriesTheAlert
            case .dropsPrunedAlerts: .everyEvent
            case .leaksItsSecret: .noSecrets
            case .swallowsErrors: .failureThrows
            }
        }
    }

    var fault: Fault
    var base: any Notifier
    var secret: String
    var name: String { "misbehaving" }

    func send(_ alert: Alert) async throws {
        var alert = alert
        switch fault {
        case .sendsTwice:
            try await base.send(alert)
        case .misnamesThePlan:
            alert.summary = alert.summary.replacingOccurrences(of: alert.plan, with: "another-plan")
            alert.plan = "another-plan"
        case .dropsPrunedAlerts:
            if alert.event == .pruned { return }
        case .leaksItsSecret:
            alert.summary += " (token \(secret))"
        case .swallowsErrors:
            try? await base.send(alert)
            return
        }
        try await base.send(alert)
    }
}
