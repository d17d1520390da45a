import Foundation
import Yams

/// Where one setting of the effective plan came from: the plan file (with its line), an environment
/// variable, or a default. `backupctl config check` prints them.
public struct SettingOrigin: Sendable, Encodable, Equatable {
    public enum Kind: String, Sendable, Encodable {
        case plan, environment, `default`
    }

    /// A top-level key (`schedule`), or one entry of a list (`sources.db`, `notify.webhook`).
    public var setting: String
    public var kind: Kind
    /// `backup.yml:12, ${DATABASE_URL} from DATABASE_URL_FILE=/run/secrets/db_url`, `BACKUP_DIR`,
    /// `0 2 * * *`: what a person needs to find it or change it. Never a secret's value.
    public var detail: String

    enum CodingKeys: String, CodingKey {
        case setting, detail
        case kind = "from"
    }
}

extension PlanLoader {
    /// The top-level settings a plan may leave out, and what takes their place: the variables that
    /// give them (the first one set wins), else the default.
    static let fallbacks: [(key: String, variables: [String], defaultValue: String)] = [
        ("name", ["BACKUP_NAME"], "backup"),
        ("schedule", ["BACKUP_SCHEDULE"], "0 2 * * *"),
        ("timezone", ["BACKUP_TIMEZONE", "TZ"], "the system's (\(TimeZone.current.identifier))"),
        ("jitter", ["BACKUP_JITTER"], "none"),
        ("run_at_start", ["BACKUP_RUN_AT_START"], "false"),
        ("retention", ["BACKUP_RETENTION_DAYS"], "keep_daily: 7"),
        ("require_all_sinks", [], "false: a sink that fails its check is left out and the run ends degraded"),
        ("encryption", [EncryptionSettings.recipientsVariable], "off"),
        ("archive", [], "tar.gz / sql.gz, gzip level 6"),
        ("verify", [], "full read-back of every artifact"),
    ]

    /// Where each setting of the plan at `path` (or the environment's plan, when nil) came from, in
    /// the order `config print` prints them.
    public func settingOrigins(file path: String?) throws -> [SettingOrigin] {
        let plan = try path.map { try load(file: $0) } ?? loadFromEnvironment()
        var origins: [SettingOrigin] = []
        if let path {
            let (text, _) = try read(file: path)
            let environment = try resolvedEnvironment(for: text)
            guard let raw = try Yams.compose(yaml: text), case .mapping(let mapping) = raw else { return [] }
            let name = path
            for pair in mapping {
                guard let key = pair.key.string else { continue }
                if ["sources", "sinks", "notify"].contains(key) {
                    let list = pair.value.sequence.map(Array.init) ?? pair.value.mapping?["notifiers"]?.sequence.map(Array.init) ?? []
                    for item in list {
                        origins.append(SettingOrigin(setting: "\(key).\(item.mapping?["name"]?.string ?? "?")", kind: .plan,
                                                     detail: describe(item, file: name, line: item.mark?.line)))
                    }
                    if case .mapping(let section) = pair.value, section["env"]?.bool == false {
                        origins.append(SettingOrigin(setting: "notify.env", kind: .plan,
                                                     detail: "\(name):\(pair.key.mark?.line ?? 0): false, so the BACKUP_ALERT_* variables add no notifiers"))
                    }
                } else {
                    var detail = describe(pair.value, file: name, line: pair.key.mark?.line)
                    if key == "encryption", let variable = set(EncryptionSettings.recipientsVariable) {
                        detail += "; recipients added from \(variable)"
                    }
                    origins.append(SettingOrigin(setting: key, kind: .plan, detail: detail))
                }
            }
            let document = try document(yaml: text, origin: path, environment: environment)
            for entry in try environmentNotifiers(forPlan: text, document: document, environment: environment) {
                origins.append(SettingOrigin(setting: "notify.\(entry.name ?? "?")", kind: .environment,
                                             detail: "\(entry.variables.first ?? "the environment"), added to the plan's notifiers (`notify: { env: false }` turns this off)"))
            }
            origins += fallbackOrigins(present: Set(mapping.compactMap { $0.key.string }))
        } else {
            for entry in try environmentEntries(try EnvironmentFiles.resolved(environment)) {
                let setting = "\(entry.section).\(entry.name ?? "?")"
                if entry.variables.isEmpty {
                    origins.append(SettingOrigin(setting: setting, kind: .default, detail: "built in, as \(registry.environmentContributors.first { $0.section == entry.section }?.variables.first ?? "no variable") is not set"))
                } else {
                    origins.append(SettingOrigin(setting: setting, kind: .environment, detail: entry.variables.map(describeVariable).joined(separator: ", ")))
                }
            }
            origins += fallbackOrigins(present: [])
        }
        if !origins.contains(where: { $0.setting == "staging_dir" }) {
            origins.append(SettingOrigin(setting: "staging_dir", kind: .default, detail: plan.resolvedStagingDirectory))
        }
        if !origins.contains(where: { $0.setting == "state_dir" }) {
            origins.append(SettingOrigin(setting: "state_dir", kind: .default, detail: plan.resolvedStateDirectory))
        }
        let rank = { (origin: SettingOrigin) in
            Self.canonicalKeyOrder.firstIndex(of: String(origin.setting.prefix { $0 != "." })) ?? Self.canonicalKeyOrder.count
        }
        return origins.enumerated().sorted { (rank($0.element), $0.offset) < (rank($1.element), $1.offset) }.map(\.element)
    }

    /// The settings of ``fallbacks`` the plan file does not give.
    private func fallbackOrigins(present: Set<String>) -> [SettingOrigin] {
        Self.fallbacks.filter { !present.contains($0.key) }.map { fallback in
            if let variable = fallback.variables.lazy.compactMap(set).first {
                return SettingOrigin(setting: fallback.key, kind: .environment, detail: variable)
            }
            return SettingOrigin(setting: fallback.key, kind: .default, detail: fallback.defaultValue)
        }
    }

    /// `NAME`, or `NAME_FILE=path` when the value came from a file; nil when neither is set.
    private func set(_ name: String) -> String? {
        if let value = environment[name], !value.isEmpty { return name }
        if let path = environment[name + "_FILE"], !path.isEmpty { return "\(name)_FILE=\(path)" }
        return nil
    }

    private func describeVariable(_ name: String) -> String { set(name) ?? name }

    /// `file:line`, and where each `${NAME}` the value reads came from.
    private func describe(_ node: Node, file: String, line: Int?) -> String {
        var parts = ["\(file):\(line ?? 0)"]
        for (name, hasDefault) in Self.references(in: node) {
            if let variable = set(name) {
                parts.append("${\(name)} from \(variable)")
            } else if hasDefault {
                parts.append("${\(name)} unset: its default")
            }
        }
        return parts.joined(separator: ", ")
    }

    /// The `${NAME}` references in a value's scalars, in order, each once, with whether it has a default.
    static func references(in node: Node) -> [(name: String, hasDefault: Bool)] {
        var found: [(String, Bool)] = []
        func visit(_ node: Node) {
            switch node {
            case .scalar(let scalar):
                for match in scalar.string.matches(of: /\$\{([A-Za-z_][A-Za-z0-9_]*)(:-)?/) where !found.contains(where: { $0.0 == String(match.1) }) {
                    found.append((String(match.1), match.2 != nil))
                }
            case .mapping(let mapping):
                for pair in mapping { visit(pair.value) }
            case .sequence(let sequence):
                sequence.forEach(visit)
            case .alias:
                break
            }
        }
        visit(node)
        return found
    }
}
