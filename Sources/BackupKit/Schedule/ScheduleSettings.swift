import Foundation

/// The plan's schedule keys: `schedule` (cron; default `BACKUP_SCHEDULE`, else `0 2 * * *` as in the
/// design document), `timezone` (default `BACKUP_TIMEZONE`, `TZ`, else the system's), `jitter` (a random
/// delay of up to this long before each run) and `run_at_start`.
public struct ScheduleSettings: Sendable, Hashable {
    public var expression: CronExpression
    public var timeZone: TimeZone
    /// The zone's name as the plan wrote it (Foundation may call UTC "GMT").
    public var timeZoneName: String
    public var jitter: PlanDuration?
    public var runAtStart: Bool

    public static let defaultExpression = "0 2 * * *"
    // A constant expression that parses.
    static let defaultCronExpression = try! CronExpression(defaultExpression)

    public init(expression: CronExpression, timeZone: TimeZone = .current, timeZoneName: String? = nil, jitter: PlanDuration? = nil, runAtStart: Bool = false) {
        self.expression = expression
        self.timeZone = timeZone
        self.timeZoneName = timeZoneName ?? timeZone.identifier
        self.jitter = jitter
        self.runAtStart = runAtStart
    }

    public var cronSchedule: CronSchedule { CronSchedule(expression, timeZone: timeZone, jitter: jitter?.seconds ?? 0) }

    /// The schedule of a plan file, with the environment's defaults.
    static func decode(from container: KeyedDecodingContainer<PlanFile.CodingKeys>, environment: [String: String]) throws -> ScheduleSettings {
        let text = try container.decodeIfPresent(String.self, forKey: .schedule) ?? environment["BACKUP_SCHEDULE"] ?? defaultExpression
        let expression: CronExpression
        do {
            expression = try CronExpression(text)
        } catch let error as BackupError {
            throw invalidValue(.schedule, in: container, error.message)
        }
        var timeZone = TimeZone.current
        var zoneName: String?
        if let name = try container.decodeIfPresent(String.self, forKey: .timezone) ?? environment["BACKUP_TIMEZONE"] ?? environment["TZ"].map({ $0.hasPrefix(":") ? String($0.dropFirst()) : $0 }) {
            guard let zone = TimeZone(identifier: name) else {
                throw invalidValue(.timezone, in: container, "unknown time zone '\(name)'; use an IANA name such as Europe/Prague or UTC (is the tzdata package installed?)")
            }
            timeZone = zone
            zoneName = name
        }
        let jitter = try container.decodeIfPresent(PlanDuration.self, forKey: .jitter) ?? environment["BACKUP_JITTER"].flatMap(PlanDuration.init(parsing:))
        let runAtStart = try container.decodeIfPresent(Bool.self, forKey: .runAtStart) ?? (environment["BACKUP_RUN_AT_START"] == "true")
        return ScheduleSettings(expression: expression, timeZone: timeZone, timeZoneName: zoneName, jitter: jitter, runAtStart: runAtStart)
    }
}
