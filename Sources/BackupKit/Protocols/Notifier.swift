/// Tells people about a run: a webhook, an email, or a notifier of your own.
///
/// ## Contract
/// - ``send(_:)`` delivers one alert, or throws. It applies its own timeouts and retries; the runner
///   calls it once per alert and never retries.
/// - A notifier's failure never changes the outcome of the backup: the runner records it in the run
///   report and goes on with the other notifiers.
/// - The alert's text is already free of secrets; a notifier must not add any of its own (tokens,
///   passwords, URLs with credentials) to what it sends, logs or throws.
/// - Which events a notifier gets is decided by the plan (``FilteredNotifier``), not by the notifier.
/// - Cancellation: a send that notices task cancellation stops and throws `CancellationError`.
public protocol Notifier: Sendable {
    /// The notifier's name in the plan, such as `ops-slack`.
    var name: String { get }
    func send(_ alert: Alert) async throws
}
