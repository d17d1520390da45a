import Foundation
import Yams

/// A plan entry that environment variables describe, such as the sink `local` from `BACKUP_DIR`.
struct EnvironmentEntry {
    /// `sources`, `sinks` or `notify`.
    var section: String
    var value: JSONValue
    /// The variables it was built from that are set, the deciding one first; empty when only defaults
    /// built it (the sink `local` without `BACKUP_DIR`).
    var variables: [String]

    var name: String? {
        if case .object(let fields) = value, case .string(let name)? = fields["name"] { name } else { nil }
    }
}

extension PlanLoader {
    /// The `origin` of a plan built from the environment alone.
    public static let environmentOrigin = "environment"

    /// Every entry the registered contributors build from `environment`, or those of `section`.
    func environmentEntries(_ environment: [String: String], section: String? = nil) throws -> [EnvironmentEntry] {
        var entries: [EnvironmentEntry] = []
        for contributor in registry.environmentContributors where section == nil || contributor.section == section {
            let set = contributor.variables.filter { !(environment[$0] ?? "").isEmpty }
            entries += try contributor.contribute(environment).map { EnvironmentEntry(section: contributor.section, value: $0, variables: set) }
        }
        return entries
    }

    /// The plan's document with its variables interpolated and, for a plan file, the notifiers that
    /// the environment adds (``environmentNotifiers(forPlan:document:environment:)``).
    func completeDocument(yaml: String, origin: String, environment: [String: String]) throws -> Node {
        let node = try document(yaml: yaml, origin: origin, environment: environment)
        guard origin != Self.environmentOrigin, case .mapping(var mapping) = node else { return node }
        let additions = try environmentNotifiers(forPlan: yaml, document: node, environment: environment)
        guard !additions.isEmpty else { return node }
        var added: [Node] = []
        for entry in additions {
            let encoder = JSONEncoder()
            encoder.outputFormatting = .sortedKeys
            let json = String(decoding: try encoder.encode(entry.value), as: UTF8.self)
            guard case .mapping(let item)? = try Yams.compose(yaml: json) else { continue }
            // As a person would write it: name and type first, plain scalars where they read back the same.
            let first = ["name", "type"]
            let rank = { (key: Node) in first.firstIndex(of: key.string ?? "") ?? first.count }
            let ordered = item.enumerated().sorted { (rank($0.element.key), $0.offset) < (rank($1.element.key), $1.offset) }.map(\.element)
            added.append(.mapping(Self.unquoted(Node.Mapping(ordered))))
        }
        switch mapping["notify"] {
        case .sequence(let list)?:
            mapping["notify"] = .sequence(Node.Sequence(Array(list) + added, list.tag, list.style, list.mark))
        case .mapping(var section)?:
            let list = section["notifiers"]?.sequence.map(Array.init) ?? []
            section["notifiers"] = .sequence(Node.Sequence(list + added))
            mapping["notify"] = .mapping(section)
        default:
            mapping["notify"] = .sequence(Node.Sequence(added))
        }
        return .mapping(mapping)
    }

    /// The notifiers `BACKUP_ALERT_WEBHOOK_URL` and `BACKUP_ALERT_EMAIL` (and any other contributor's
    /// `notify` entries) add to a plan file's own. None when the plan says `notify: { env: false }`;
    /// a variable the plan file reads itself (`url: ${BACKUP_ALERT_WEBHOOK_URL}`) adds nothing, so no
    /// alert is sent twice. An added notifier whose name the plan already uses is renamed `env-<name>`.
    func environmentNotifiers(forPlan yaml: String, document: Node, environment: [String: String]) throws -> [EnvironmentEntry] {
        let notify = document.mapping?["notify"]
        if case .mapping(let section)? = notify, section["env"]?.bool == false { return [] }
        let planNotifiers: [Node] = notify?.sequence.map(Array.init) ?? notify?.mapping?["notifiers"]?.sequence.map(Array.init) ?? []
        let taken = Set(planNotifiers.compactMap { $0.mapping?["name"]?.string })
        let readByPlan = EnvironmentFiles.referencedNames(in: yaml)
        let unread = environment.filter { !readByPlan.contains($0.key) }
        let entries: [EnvironmentEntry]
        do {
            entries = try environmentEntries(unread, section: "notify")
        } catch let error as BackupError {
            throw BackupError(error.code, "\(error.message). (With a plan file, the BACKUP_ALERT_* variables add notifiers to the plan's; `notify: { env: false }` in the plan turns that off.)")
        }
        return entries.map { entry in
            guard let name = entry.name, taken.contains(name), case .object(var fields) = entry.value else { return entry }
            fields["name"] = .string("env-\(name)")
            return EnvironmentEntry(section: entry.section, value: .object(fields), variables: entry.variables)
        }
    }
}
