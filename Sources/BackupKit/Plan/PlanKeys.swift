/// The keys every component of a given kind accepts in a plan file, beside its own configuration's.
public enum PlanKeys {
    public static let source: Set<String> = ["name", "type", "archive", "verify"]
    public static let sink: Set<String> = ["name", "type", "encryption"]
    public static let notifier: Set<String> = ["name", "type", "events"]
}
