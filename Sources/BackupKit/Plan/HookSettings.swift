/// The plan's `hooks:` section: shell commands run around a backup and around a restore, such as
/// `docker compose stop app`. Each runs with `/bin/sh -c`, within `timeout`, and gets the run's details
/// as `BACKUP_*` environment variables. A failing `before_*` hook stops what it guards.
///
/// ```yaml
/// hooks:
///   before_backup: ["docker compose stop app"]
///   after_backup: ["docker compose start app"]
///   before_restore: ["docker compose stop app"]
///   after_restore: ["docker compose start app"]
///   timeout: 5m
/// ```
public struct HookSettings: Sendable, Hashable, Codable {
    public var beforeBackup: [String]
    public var afterBackup: [String]
    public var beforeRestore: [String]
    public var afterRestore: [String]
    /// How long each command may run before it is stopped and counted as failed. Default 5 minutes.
    public var timeout: PlanDuration

    public init(beforeBackup: [String] = [], afterBackup: [String] = [], beforeRestore: [String] = [], afterRestore: [String] = [],
                timeout: PlanDuration = PlanDuration(seconds: 300)) {
        self.beforeBackup = beforeBackup
        self.afterBackup = afterBackup
        self.beforeRestore = beforeRestore
        self.afterRestore = afterRestore
        self.timeout = timeout
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case beforeBackup = "before_backup"
        case afterBackup = "after_backup"
        case beforeRestore = "before_restore"
        case afterRestore = "after_restore"
        case timeout
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.strictContainer(keyedBy: CodingKeys.self)
        beforeBackup = try container.decodeIfPresent([String].self, forKey: .beforeBackup) ?? []
        afterBackup = try container.decodeIfPresent([String].self, forKey: .afterBackup) ?? []
        beforeRestore = try container.decodeIfPresent([String].self, forKey: .beforeRestore) ?? []
        afterRestore = try container.decodeIfPresent([String].self, forKey: .afterRestore) ?? []
        timeout = try container.decodeIfPresent(PlanDuration.self, forKey: .timeout) ?? PlanDuration(seconds: 300)
        guard timeout.seconds > 0 else { throw invalidValue(.timeout, in: container, "must be more than 0") }
    }
}
