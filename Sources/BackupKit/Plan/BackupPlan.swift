import Foundation

/// What to back up, where to keep it, how long, and whom to tell: a declarative description that a
/// ``BackupRunner`` carries out. Build it in Swift, or load it from a YAML plan file with ``PlanLoader``.
public struct BackupPlan: Sendable {
    /// The plan's name: part of manifest names, the lock, and alerts. Letters, digits, `.` and `-`.
    public var name: String
    public var sources: [PlanSource]
    public var sinks: [any Sink]
    public var notifiers: [FilteredNotifier]
    public var archive: ArchiveSettings
    /// The formats ``archive`` and per-source settings may name, and that manifests are read with.
    public var formats: ArchiveFormatTable
    public var verification: VerificationPolicy
    public var retention: RetentionPolicy
    public var hooks: HookSettings
    /// A sink that fails its preflight (``Sink/preflight()``) fails the whole run before anything is
    /// written. False by default: the run backs up to the healthy sinks and ends degraded.
    public var requireAllSinks: Bool
    /// When a run fails and the newest good set is older than this, a `stale` alert goes out too.
    public var staleAfter: PlanDuration?
    /// When `backupctl schedule` runs the plan; nil: `BACKUP_SCHEDULE`, else daily at 02:00.
    public var schedule: ScheduleSettings?
    /// Fetched after each successful run (healthchecks.io, Uptime Kuma push monitors), by ``heartbeat``:
    /// the plan loader makes that notifier from it; a plan built in code sets ``heartbeat`` itself.
    public var heartbeatURL: Secret?
    /// Gets the success alert of each successful run before the run is recorded (BackupNotifiers'
    /// `HeartbeatNotifier` for `heartbeat_url`). Its failure is a warning; it never changes the outcome.
    public var heartbeat: (any Notifier)?
    /// A Prometheus textfile-collector file rewritten after every run.
    public var metricsFile: String?
    /// Where the plan keeps its lock, its run state and (unless ``stagingDirectory`` says otherwise) its
    /// staging area. Nil: the first local sink's directory, else the staging directory.
    public var stateDirectory: String?
    /// Where artifacts are written before they are verified and stored. Nil: `.staging` inside
    /// ``stateDirectory`` when it is set, else inside the first local sink's directory (same file system,
    /// so storing is a rename), else a temporary directory.
    public var stagingDirectory: String?
    /// Which key signs the plan's manifests, and which checks them.
    public var signing: SigningSettings
    /// Where the plan came from, for messages: a file path or "environment".
    public var origin: String
    /// The plan-level `encryption:`: every sink encrypts to these recipients unless it says otherwise
    /// in ``sinkEncryption``. Nil: plaintext sinks, unless a sink has its own.
    public var encryption: EncryptionSettings?
    /// Each sink's own `encryption:`, by sink name.
    public var sinkEncryption: [String: SinkEncryptionChoice] = [:]
    /// The identities that open encrypted sets on this host (`--identity`,
    /// `BACKUP_ENCRYPTION_IDENTITY_FILE`), needed only to restore or fully verify them. Never read from
    /// the plan: a host that only backs up holds none.
    public var identities: [AgeIdentity] = []

    public init(
        name: String, sources: [PlanSource], sinks: [any Sink], notifiers: [FilteredNotifier] = [],
        archive: ArchiveSettings = ArchiveSettings(), verification: VerificationPolicy = VerificationPolicy(),
        retention: RetentionPolicy = .standard, hooks: HookSettings = HookSettings(), requireAllSinks: Bool = false, staleAfter: PlanDuration? = nil,
        schedule: ScheduleSettings? = nil, heartbeatURL: Secret? = nil, heartbeat: (any Notifier)? = nil, metricsFile: String? = nil,
        stagingDirectory: String? = nil, stateDirectory: String? = nil, signing: SigningSettings = SigningSettings(), formats: ArchiveFormatTable = .standard,
        origin: String = "code", encryption: EncryptionSettings? = nil, sinkEncryption: [String: SinkEncryptionChoice] = [:]
    ) {
        self.encryption = encryption
        self.sinkEncryption = sinkEncryption
        self.signing = signing
        self.formats = formats
        self.name = name
        self.sources = sources
        self.sinks = sinks
        self.notifiers = notifiers
        self.archive = archive
        self.verification = verification
        self.retention = retention
        self.hooks = hooks
        self.requireAllSinks = requireAllSinks
        self.staleAfter = staleAfter
        self.schedule = schedule
        self.heartbeatURL = heartbeatURL
        self.heartbeat = heartbeat
        self.metricsFile = metricsFile
        self.stagingDirectory = stagingDirectory
        self.stateDirectory = stateDirectory
        self.origin = origin
    }

    /// Convenience for plans built in code with no per-source settings.
    public init(name: String, sources: [any BackupSource], sinks: [any Sink], notifiers: [any Notifier] = [],
                archive: ArchiveSettings = ArchiveSettings(), verification: VerificationPolicy = VerificationPolicy(),
                retention: RetentionPolicy = .standard) {
        self.init(name: name, sources: sources.map { PlanSource($0) }, sinks: sinks,
                  notifiers: notifiers.map { FilteredNotifier($0) }, archive: archive, verification: verification, retention: retention)
    }

    /// Checks what the type system cannot: names are valid and unique, and there is something to do.
    public func validate() throws {
        guard ArtifactName.isValidName(name) else {
            throw BackupError(.invalidPlan, "\(origin): plan name '\(name)' is invalid: use letters, digits, '.' and '-' (no '_' or spaces)")
        }
        guard !sources.isEmpty else {
            throw BackupError(.invalidPlan, "\(origin): the plan has no sources. Add a 'sources:' list, or set BACKUP_SOURCE_DIRS / BACKUP_CONFIG_FILES.")
        }
        guard !sinks.isEmpty else {
            throw BackupError(.invalidPlan, "\(origin): the plan has no sinks. Add a 'sinks:' list with at least { name: local, type: local, path: ./backups }.")
        }
        for (kind, names) in [("source", sources.map(\.source.name)), ("sink", sinks.map(\.name)), ("notifier", notifiers.map(\.name))] {
            var seen = Set<String>()
            for name in names {
                guard ArtifactName.isValidName(name) else {
                    throw BackupError(.invalidPlan, "\(origin): \(kind) name '\(name)' is invalid: use letters, digits, '.' and '-' (no '_' or spaces)")
                }
                guard seen.insert(name).inserted else {
                    throw BackupError(.invalidPlan, "\(origin): two \(kind)s are named '\(name)'; names must be unique")
                }
            }
        }
    }

    /// The directory of the first sink that keeps files on this host.
    public var localDirectory: String? { sinks.lazy.compactMap(\.capabilities.localDirectory).first }

    /// The staging directory actually used.
    public var resolvedStagingDirectory: String {
        if let stagingDirectory { return stagingDirectory }
        if let directory = stateDirectory ?? localDirectory { return directory + "/.staging" }
        return NSTemporaryDirectory().trimmingSuffix("/") + "/backupctl-\(name)"
    }

    /// The state directory actually used: ``stateDirectory``, else the first local sink's directory,
    /// else the staging directory.
    public var resolvedStateDirectory: String {
        stateDirectory ?? localDirectory ?? resolvedStagingDirectory
    }

    /// The plan's lock file, in the state directory.
    public var lockPath: String {
        resolvedStateDirectory + "/.backupctl-\(name).lock"
    }

    /// Where the outcome of the plan's last runs is kept, for `backupctl status`.
    public var statePath: String {
        resolvedStateDirectory + "/.backupctl-\(name).state.json"
    }

    /// The plan's schedule, or the design document's default (daily at 02:00 in the system's zone) for
    /// a plan built in code without one.
    public var resolvedSchedule: ScheduleSettings {
        schedule ?? ScheduleSettings(expression: ScheduleSettings.defaultCronExpression)
    }

    public func source(named name: String) -> PlanSource? { sources.first { $0.source.name == name } }
    public func sink(named name: String) -> (any Sink)? { sinks.first { $0.name == name } }
}

extension String {
    package func trimmingSuffix(_ suffix: String) -> String {
        var text = self
        while text.count > 1 && text.hasSuffix(suffix) { text.removeLast(suffix.count) }
        return text
    }
}
