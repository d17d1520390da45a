import Foundation

/// The plan file's top level, decoded with strict keys into the components' own configurations.
struct PlanFile: Decodable {
    var plan: BackupPlan

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, sources, sinks, notify, archive, verify, retention, hooks
        case staleAfter = "stale_after"
        case requireAllSinks = "require_all_sinks"
        case schedule, timezone, jitter
        case runAtStart = "run_at_start"
        case heartbeatURL = "heartbeat_url"
        case heartbeat
        case metricsFile = "metrics_file"
        case stagingDirectory = "staging_dir"
        case stateDirectory = "state_dir"
        case signing, encryption
    }

    init(from decoder: any Decoder) throws {
        let context = try PlanDecodingContext.from(decoder)
        let container = try decoder.strictContainer(keyedBy: CodingKeys.self)
        let name = try container.decodeIfPresent(String.self, forKey: .name) ?? context.environment["BACKUP_NAME"] ?? "backup"
        guard ArtifactName.isValidName(name) else {
            throw invalidValue(.name, in: container, "plan name '\(name)' is invalid: use letters, digits, '.' and '-' (no '_' or spaces)")
        }
        let sources = try container.decodeIfPresent([SourceEntry].self, forKey: .sources) ?? []
        let sinks = try container.decodeIfPresent([SinkEntry].self, forKey: .sinks) ?? []
        let notifiers = try container.decodeIfPresent(NotifySection.self, forKey: .notify)?.notifiers ?? []
        try Self.checkUnique(sources.map(\.source.source.name), .sources, container)
        try Self.checkUnique(sinks.map(\.sink.name), .sinks, container)
        try Self.checkUnique(notifiers.map(\.notifier.name), .notify, container)
        if sources.isEmpty {
            if context.origin == PlanLoader.environmentOrigin {
                throw BackupError(.invalidPlan, "no plan file and no sources in the environment: create ./backup.yml (or pass --config FILE, or set BACKUP_CONFIG), or set BACKUP_SOURCE_DIRS / BACKUP_CONFIG_FILES")
            }
            throw DecodingError.keyNotFound(CodingKeys.sources, .init(codingPath: decoder.codingPath, debugDescription: "the plan needs at least one source under 'sources:'"))
        }
        if sinks.isEmpty {
            throw DecodingError.keyNotFound(CodingKeys.sinks, .init(codingPath: decoder.codingPath, debugDescription: "the plan needs at least one sink under 'sinks:', such as { name: local, type: local, path: ./backups }"))
        }
        var retention = RetentionPolicy.standard
        if let planned = try container.decodeIfPresent(RetentionPolicy.self, forKey: .retention) {
            retention = planned
        } else if let days = context.environment["BACKUP_RETENTION_DAYS"] {
            guard let value = Int(days), value > 0 else {
                throw BackupError(.invalidPlan, "BACKUP_RETENTION_DAYS='\(days)' is not a positive whole number of days")
            }
            retention = RetentionPolicy(keepDaily: value)
        }
        var encryption = try container.decodeIfPresent(EncryptionSettings.self, forKey: .encryption)
        if let fromEnvironment = try EncryptionSettings.environmentRecipients(context.environment) {
            var settings = encryption ?? EncryptionSettings(recipients: [])
            settings.recipients += fromEnvironment
            settings.origins.append(EncryptionSettings.recipientsVariable)
            encryption = settings
        }
        let heartbeatURL = try container.decodeIfPresent(Secret.self, forKey: .heartbeatURL).flatMap { $0 == .value("") ? nil : $0 }
        plan = BackupPlan(
            name: name,
            sources: sources.map(\.source),
            sinks: sinks.map(\.sink),
            notifiers: notifiers.map(\.notifier),
            archive: try container.decodeIfPresent(ArchiveSettings.self, forKey: .archive) ?? ArchiveSettings(),
            verification: try container.decodeIfPresent(VerificationPolicy.self, forKey: .verify) ?? VerificationPolicy(),
            retention: retention,
            hooks: try container.decodeIfPresent(HookSettings.self, forKey: .hooks) ?? HookSettings(),
            requireAllSinks: try container.decodeIfPresent(Bool.self, forKey: .requireAllSinks) ?? false,
            staleAfter: try container.decodeIfPresent(PlanDuration.self, forKey: .staleAfter),
            schedule: try ScheduleSettings.decode(from: container, environment: context.environment),
            heartbeatURL: heartbeatURL,
            heartbeat: try heartbeatURL.map { url in
                guard let factory = context.registry.heartbeat else {
                    throw invalidValue(.heartbeatURL, in: container, "no heartbeat notifier is registered; call registry.registerStandardNotifiers() (BackupNotifiers)")
                }
                return factory(url, try container.decodeIfPresent(HeartbeatPings.self, forKey: .heartbeat) ?? HeartbeatPings())
            },
            metricsFile: try container.decodeIfPresent(String.self, forKey: .metricsFile).map { resolvePath($0, against: context.baseDirectory) },
            stagingDirectory: try container.decodeIfPresent(String.self, forKey: .stagingDirectory).map { resolvePath($0, against: context.baseDirectory) },
            stateDirectory: try container.decodeIfPresent(String.self, forKey: .stateDirectory).map { resolvePath($0, against: context.baseDirectory) },
            signing: try container.decodeIfPresent(SigningSettings.self, forKey: .signing) ?? SigningSettings(),
            formats: context.registry.formats,
            origin: context.origin,
            encryption: encryption,
            sinkEncryption: Dictionary(sinks.compactMap { entry in entry.encryption.map { (entry.sink.name, $0) } }, uniquingKeysWith: { a, _ in a })
        )
    }

    static func checkUnique(_ names: [String], _ key: CodingKeys, _ container: KeyedDecodingContainer<CodingKeys>) throws {
        var seen = Set<String>()
        for (index, name) in names.enumerated() where !seen.insert(name).inserted {
            throw DecodingError.dataCorrupted(.init(
                codingPath: container.codingPath + [key, AnyCodingKey(intValue: index), AnyCodingKey("name")],
                debugDescription: "the name '\(name)' is used twice under '\(key.stringValue)'; names must be unique"))
        }
    }
}

/// Decodes the keys every component has, and hands the rest to the factory registered for its type.
private func componentDefinition<F>(
    _ decoder: any Decoder, kind: String, factories: [String: F]
) throws -> (ComponentDefinition, F, KeyedDecodingContainer<AnyCodingKey>) {
    let context = try PlanDecodingContext.from(decoder)
    let container = try decoder.container(keyedBy: AnyCodingKey.self)
    let name = try container.decode(String.self, forKey: AnyCodingKey("name"))
    guard ArtifactName.isValidName(name) else {
        throw DecodingError.dataCorruptedError(forKey: AnyCodingKey("name"), in: container,
            debugDescription: "\(kind) name '\(name)' is invalid: use letters, digits, '.' and '-' (no '_' or spaces)")
    }
    let type = try container.decode(String.self, forKey: AnyCodingKey("type"))
    guard let factory = factories[type] else {
        var message = "unknown \(kind) type '\(type)'"
        if let suggestion = closestMatch(to: type, in: Set(factories.keys)) { message += " (did you mean '\(suggestion)'?)" }
        message += "; known types: \(factories.keys.sorted().joined(separator: ", "))"
        throw DecodingError.dataCorruptedError(forKey: AnyCodingKey("type"), in: container, debugDescription: message)
    }
    let definition = ComponentDefinition(name: name, type: type, baseDirectory: context.baseDirectory, environment: context.environment)
    return (definition, factory, container)
}

struct SourceEntry: Decodable {
    var source: PlanSource

    init(from decoder: any Decoder) throws {
        let context = try PlanDecodingContext.from(decoder)
        let (definition, factory, container) = try componentDefinition(decoder, kind: "source", factories: context.registry.sources)
        source = PlanSource(
            try factory(definition, decoder),
            archive: try container.decodeIfPresent(ArchiveSettings.self, forKey: AnyCodingKey("archive")),
            verification: try container.decodeIfPresent(VerificationPolicy.self, forKey: AnyCodingKey("verify"))
        )
    }
}

struct SinkEntry: Decodable {
    var sink: any Sink
    var encryption: SinkEncryptionChoice?

    init(from decoder: any Decoder) throws {
        let context = try PlanDecodingContext.from(decoder)
        let (definition, factory, container) = try componentDefinition(decoder, kind: "sink", factories: context.registry.sinks)
        sink = try factory(definition, decoder)
        encryption = try container.decodeIfPresent(SinkEncryptionChoice.self, forKey: AnyCodingKey("encryption"))
    }
}

/// The plan's `notify:` section: a list of notifiers, or a mapping `{ env: false, notifiers: [...] }`.
/// `env` (default true) lets `BACKUP_ALERT_WEBHOOK_URL` and `BACKUP_ALERT_EMAIL` add notifiers to the
/// plan's (see ``PlanLoader``); the loader has added them by the time the section is decoded.
struct NotifySection: Decodable {
    var notifiers: [NotifierEntry]
    var environment: Bool

    enum CodingKeys: String, CodingKey, CaseIterable {
        case env, notifiers
    }

    init(from decoder: any Decoder) throws {
        if (try? decoder.unkeyedContainer()) != nil {
            notifiers = try decoder.singleValueContainer().decode([NotifierEntry].self)
            environment = true
        } else {
            let container = try decoder.strictContainer(keyedBy: CodingKeys.self)
            environment = try container.decodeIfPresent(Bool.self, forKey: .env) ?? true
            notifiers = try container.decodeIfPresent([NotifierEntry].self, forKey: .notifiers) ?? []
        }
    }
}

struct NotifierEntry: Decodable {
    var notifier: FilteredNotifier

    init(from decoder: any Decoder) throws {
        let context = try PlanDecodingContext.from(decoder)
        let (definition, factory, container) = try componentDefinition(decoder, kind: "notifier", factories: context.registry.notifiers)
        let events = try container.decodeIfPresent([AlertEvent].self, forKey: AnyCodingKey("events")).map(Set.init) ?? AlertEvent.defaultSelection
        notifier = FilteredNotifier(try factory(definition, decoder), events: events)
    }
}
