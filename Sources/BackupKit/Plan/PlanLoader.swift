import Foundation
import Yams

/// Reads a plan from a YAML file, or builds one from the environment when there is no file.
///
/// `${VAR}` and `${VAR:-default}` in values are replaced from the environment (`$$` is a literal `$`);
/// an unset variable without a default is an error. Unknown keys are errors. Every error names the
/// file, the line and the key, and says what to do.
public struct PlanLoader: Sendable {
    public var registry: PlanRegistry
    public var environment: [String: String]

    public init(registry: PlanRegistry, environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.registry = registry
        self.environment = environment
    }

    /// Loads the plan file at `path`.
    public func load(file path: String) throws -> BackupPlan {
        let (text, base) = try read(file: path)
        return try load(yaml: text, origin: path, baseDirectory: base)
    }

    func read(file path: String) throws -> (text: String, baseDirectory: String) {
        if let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber, size.intValue > Self.maximumPlanBytes {
            throw BackupError(.invalidPlan, "\(path): the plan file is \(size.intValue) bytes; a plan is at most \(Self.maximumPlanBytes / 1024) KiB. Is this the right file?")
        }
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BackupError(.invalidPlan, "cannot read the plan file \(path). Check the path given to --config.")
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw BackupError(.invalidPlan, "\(path): the plan file is not UTF-8 text")
        }
        let absolute = resolvePath(path, against: FileManager.default.currentDirectoryPath)
        return (text, splitPath(absolute).directory)
    }

    /// Loads a plan from YAML text. `origin` names it in messages; relative paths resolve against `baseDirectory`.
    public func load(yaml: String, origin: String, baseDirectory: String) throws -> BackupPlan {
        try load(yaml: yaml, origin: origin, baseDirectory: baseDirectory, secretLocations: nil)
    }

    func load(yaml: String, origin: String, baseDirectory: String, secretLocations: SecretLocations?) throws -> BackupPlan {
        let environment = try resolvedEnvironment(for: yaml)
        let interpolated = try completeDocument(yaml: yaml, origin: origin, environment: environment)
        let context = PlanDecodingContext(registry: registry, baseDirectory: baseDirectory, environment: environment, origin: origin,
                                          secretLocations: secretLocations)
        do {
            let plan = try YAMLDecoder().decode(PlanFile.self, from: interpolated, userInfo: [PlanDecodingContext.key: context]).plan
            try plan.validate()
            return plan
        } catch let error as DecodingError {
            throw PlanErrorLocator(root: interpolated, origin: origin).error(for: error)
        } catch let error as BackupError {
            throw error.code == .invalidPlan || error.code == .missingCredentials ? error : BackupError(.invalidPlan, "\(origin): \(error.message)")
        }
    }

    /// Builds the plan from the environment alone, as the design document's variables describe:
    /// `BACKUP_DIR` (default `./backups`), `BACKUP_RETENTION_DAYS` (default 7), `BACKUP_NAME`, and the
    /// variables each registered module reads (such as `BACKUP_SOURCE_DIRS`).
    public func loadFromEnvironment(currentDirectory: String = FileManager.default.currentDirectoryPath) throws -> BackupPlan {
        try load(yaml: environmentDocument(), origin: Self.environmentOrigin, baseDirectory: currentDirectory)
    }

    /// The effective plan as YAML: variables interpolated, defaults filled in, secrets masked. The top
    /// level is in one fixed order (``canonicalKeyOrder``), numbers are printed as written (defaults as
    /// plain numbers, `90`, never `9e+1`), and the same plan prints the same text every time.
    public func effectiveYAML(file path: String?) throws -> String {
        try Yams.serialize(node: effectivePlan(file: path))
    }

    /// The effective plan as JSON values (``effectiveYAML(file:)``'s content): numbers, booleans and
    /// nulls as YAML resolves them, everything else as strings.
    public func effectiveJSON(file path: String?) throws -> JSONValue {
        Self.jsonValue(try effectivePlan(file: path))
    }

    /// The order of the top-level keys in ``effectiveYAML(file:)``; other keys follow in their order.
    static let canonicalKeyOrder = ["name", "schedule", "timezone", "jitter", "run_at_start", "sources", "sinks", "require_all_sinks", "encryption",
                                    "notify", "archive", "verify", "retention", "hooks", "staging_dir", "state_dir", "signing"]

    func effectivePlan(file path: String?) throws -> Node {
        let (text, origin, base): (String, String, String)
        if let path {
            let read = try read(file: path)
            (text, origin, base) = (read.text, path, read.baseDirectory)
        } else {
            (text, origin, base) = (try environmentDocument(), Self.environmentOrigin, FileManager.default.currentDirectoryPath)
        }
        let secrets = SecretLocations()
        let plan = try load(yaml: text, origin: origin, baseDirectory: base, secretLocations: secrets)
        guard case .mapping(var mapping) = Self.masked(try completeDocument(yaml: text, origin: origin, environment: try resolvedEnvironment(for: text)),
                                                       secrets: secrets) else {
            throw BackupError(.invalidPlan, "\(origin): the plan must be a mapping of keys")
        }
        let defaults: [(String, any Encodable)] = [
            ("name", plan.name), ("archive", plan.archive), ("verify", plan.verification),
            ("retention", plan.retention), ("staging_dir", plan.resolvedStagingDirectory), ("state_dir", plan.resolvedStateDirectory),
            ("signing", ["key_file": plan.signingKeyPath]),
        ]
        for (key, value) in defaults where mapping[Node(key)] == nil {
            if let node = try Yams.compose(yaml: YAMLEncoder().encode(value)) { mapping[Node(key)] = Self.plainNumbers(node) }
        }
        if path == nil { mapping = Self.unquoted(mapping) }
        let rank = { (key: Node) in Self.canonicalKeyOrder.firstIndex(of: key.string ?? "") ?? Self.canonicalKeyOrder.count }
        let ordered = mapping.enumerated().sorted { (rank($0.element.key), $0.offset) < (rank($1.element.key), $1.offset) }.map(\.element)
        return .mapping(Node.Mapping(ordered, mapping.tag, mapping.style, mapping.mark))
    }

    /// The environment's plan is built as JSON, so every scalar in it is double-quoted: prints those
    /// that read back as the same string without quotes plainly, as a person would write them.
    static func unquoted(_ mapping: Node.Mapping) -> Node.Mapping {
        guard case .mapping(let result) = mapScalars(.mapping(mapping), keys: true, { scalar in
            let text = scalar.string.lowercased()
            let typed = Int(text) != nil || Double(text) != nil || ["", "~", "null", "true", "false", "yes", "no", "on", "off", "y", "n"].contains(text)
            if scalar.style == .doubleQuoted, !typed { scalar.style = .any }
        }) else { return mapping }
        return result
    }

    /// Rewrites floating-point scalars that YAMLEncoder wrote in exponent form (`9e+1`) as plain numbers.
    static func plainNumbers(_ node: Node) -> Node {
        mapScalars(node, keys: false) { scalar in
            if scalar.string.lowercased().contains("e"), let value = Double(scalar.string), value.isFinite {
                scalar.string = value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
            }
        }
    }

    /// `node` with `change` applied to every scalar value (and every mapping key, with `keys`).
    static func mapScalars(_ node: Node, keys: Bool, _ change: (inout Node.Scalar) -> Void) -> Node {
        switch node {
        case .scalar(var scalar):
            change(&scalar)
            return .scalar(scalar)
        case .mapping(let mapping):
            let pairs = mapping.map { (keys ? mapScalars($0.key, keys: keys, change) : $0.key, mapScalars($0.value, keys: keys, change)) }
            return .mapping(Node.Mapping(pairs, mapping.tag, mapping.style, mapping.mark))
        case .sequence(let sequence):
            return .sequence(Node.Sequence(sequence.map { mapScalars($0, keys: keys, change) }, sequence.tag, sequence.style, sequence.mark))
        case .alias:
            return node
        }
    }

    /// A YAML node as JSON: scalars typed as YAML's core schema resolves them (a quoted scalar is a string).
    static func jsonValue(_ node: Node) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            guard scalar.style == .plain || scalar.style == .any else { return .string(scalar.string) }
            if let value = node.int { return .integer(Int64(value)) }
            if node.null != nil { return .null }
            if let value = node.bool { return .bool(value) }
            if let value = node.float { return .number(value) }
            return .string(scalar.string)
        case .mapping(let mapping):
            return .object(Dictionary(mapping.map { ($0.key.string ?? "", jsonValue($0.value)) }, uniquingKeysWith: { $1 }))
        case .sequence(let sequence):
            return .array(sequence.map(jsonValue))
        case .alias:
            return .null
        }
    }

    /// Masks the values at `secrets` and the passwords inside URLs anywhere.
    static func masked(_ node: Node, secrets: SecretLocations, at path: [SecretLocations.Step] = []) -> Node {
        if secrets.contains(path), case .scalar = node { return Node("***") }
        switch node {
        case .scalar(var scalar):
            let redacted = Redaction.redactURLCredentials(scalar.string)
            if redacted != scalar.string { scalar.string = redacted }
            return .scalar(scalar)
        case .mapping(let mapping):
            let pairs = mapping.map { pair -> (Node, Node) in
                // A merge key (`<<: *defaults`) puts its mapping's keys into this one: they were decoded
                // at this mapping's path.
                if pair.key.string == "<<" {
                    if case .sequence(let merged) = pair.value {
                        let items = merged.map { masked($0, secrets: secrets, at: path) }
                        return (pair.key, .sequence(Node.Sequence(items, merged.tag, merged.style, merged.mark)))
                    }
                    return (pair.key, masked(pair.value, secrets: secrets, at: path))
                }
                return (pair.key, masked(pair.value, secrets: secrets, at: path + [.key(pair.key.string ?? "")]))
            }
            return .mapping(Node.Mapping(pairs, mapping.tag, mapping.style, mapping.mark))
        case .sequence(let sequence):
            let items = sequence.enumerated().map { masked($0.element, secrets: secrets, at: path + [.index($0.offset)]) }
            return .sequence(Node.Sequence(items, sequence.tag, sequence.style, sequence.mark))
        case .alias:
            return node
        }
    }

    /// The environment a plan's text is read with: `NAME_FILE` variables read into `NAME` (see
    /// ``EnvironmentFiles``), for the names the text interpolates too.
    func resolvedEnvironment(for yaml: String) throws -> [String: String] {
        try EnvironmentFiles.resolved(environment, referenced: EnvironmentFiles.referencedNames(in: yaml))
    }

    /// Parses YAML and interpolates `${VAR}` from `environment`; syntax errors name the line.
    func document(yaml: String, origin: String, environment: [String: String]) throws -> Node {
        guard yaml.utf8.count <= Self.maximumPlanBytes else {
            throw BackupError(.invalidPlan, "\(origin): the plan file is \(yaml.utf8.count) bytes; a plan is at most \(Self.maximumPlanBytes / 1024) KiB. Is this the right file?")
        }
        let node: Node
        do {
            guard let composed = try Yams.compose(yaml: yaml) else {
                throw BackupError(.invalidPlan, "\(origin): the plan file is empty. See the README's 'Plan file' section for an example.")
            }
            node = composed
        } catch let error as YamlError {
            throw BackupError(.invalidPlan, "\(origin):\(Self.describe(error))")
        }
        guard Self.nodeCount(node, upTo: Self.maximumPlanNodes) <= Self.maximumPlanNodes else {
            throw BackupError(.invalidPlan, "\(origin): the plan holds more than \(Self.maximumPlanNodes) values once its YAML aliases (*name) are expanded; a plan that large is a mistake or an alias bomb. Use fewer nested aliases.")
        }
        return try PlanInterpolation(environment: environment, origin: origin).apply(node)
    }

    /// The largest plan file read: plans are a few KiB; a larger file is a mistake.
    static let maximumPlanBytes = 1 << 20
    /// The most values (scalars, mappings, sequences) a plan may hold after alias expansion.
    static let maximumPlanNodes = 100_000

    /// The number of values in `node` with aliases expanded, counting no further than just past `limit`,
    /// so that an alias bomb is measured in microseconds.
    static func nodeCount(_ node: Node, upTo limit: Int) -> Int {
        var count = 0
        var pending = [node]
        while let next = pending.popLast(), count <= limit {
            count += 1
            switch next {
            case .mapping(let mapping):
                for pair in mapping { pending.append(pair.key); pending.append(pair.value) }
            case .sequence(let sequence):
                pending.append(contentsOf: sequence)
            case .scalar, .alias:
                break
            }
        }
        return count
    }

    /// The plan the environment describes, as a JSON (and so YAML) document.
    func environmentDocument() throws -> String {
        let environment = try EnvironmentFiles.resolved(environment)
        var sections: [String: [JSONValue]] = [:]
        for entry in try environmentEntries(environment) {
            sections[entry.section, default: []].append(entry.value)
        }
        var plan: [String: JSONValue] = sections.mapValues { .array($0) }
        if let name = environment["BACKUP_NAME"] { plan["name"] = .string(name) }
        // These values are final (a password may hold `$`): keep the plan's `${...}` interpolation off them.
        plan = plan.mapValues(Self.escapingDollars)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(JSONValue.object(plan)), as: UTF8.self)
    }

    static func escapingDollars(_ value: JSONValue) -> JSONValue {
        switch value {
        case .string(let text): .string(text.replacingOccurrences(of: "$", with: "$$"))
        case .array(let items): .array(items.map(escapingDollars))
        case .object(let fields): .object(fields.mapValues(escapingDollars))
        default: value
        }
    }

    static func describe(_ error: YamlError) -> String {
        switch error {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
             .composer(let context, let problem, let mark, _):
            let detail = [context?.text, problem].compactMap { $0 }.filter { !$0.isEmpty }.joined(separator: ": ")
            return "\(mark.line):\(mark.column): YAML syntax error: \(detail)"
        case .duplicatedKeysInMapping(let duplicates, let context):
            return "\(context.mark.line): the key '\(duplicates.joined(separator: "', '"))' appears twice in the same section"
        default:
            return " YAML error: \(error)"
        }
    }
}
