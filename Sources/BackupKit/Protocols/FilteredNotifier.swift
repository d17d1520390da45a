/// A notifier that passes on only the events it was configured for (the plan's `events:` list).
public struct FilteredNotifier: Notifier {
    public var base: any Notifier
    public var events: Set<AlertEvent>

    public init(_ base: any Notifier, events: Set<AlertEvent> = AlertEvent.defaultSelection) {
        self.base = base
        self.events = events
    }

    public var name: String { base.name }

    public func accepts(_ event: AlertEvent) -> Bool { events.contains(event) || event == .test }

    public func send(_ alert: Alert) async throws {
        guard accepts(alert.event) else { return }
        try await base.send(alert)
    }
}
