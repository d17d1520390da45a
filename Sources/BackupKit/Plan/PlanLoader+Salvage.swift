import Foundation
import Yams

extension PlanLoader {
    /// The notifiers to tell about a plan that cannot be loaded, so that a broken plan file is never
    /// silent: the plan's own `notify:` section when it can still be read (a YAML error after it, an
    /// unknown key elsewhere, an unset variable elsewhere), else the notifiers the environment describes
    /// (`BACKUP_ALERT_WEBHOOK_URL`, `BACKUP_ALERT_EMAIL`). Returns the plan's name when known.
    public func notifiersForBrokenPlan(file path: String?) -> (plan: String, notifiers: [FilteredNotifier]) {
        var name = environment["BACKUP_NAME"] ?? "backup"
        if let path, let (text, base) = try? read(file: path) {
            var node: Node?
            do {
                node = try Yams.compose(yaml: text)
            } catch let error as YamlError {
                // Read what comes before the syntax error (the parser may notice it a line or two
                // late): the notify section may be intact.
                let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
                var cut = min(lines.count, (Self.errorLine(error) ?? lines.count + 1) - 1)
                while node == nil && cut > 0 {
                    node = try? Yams.compose(yaml: lines.prefix(cut).joined(separator: "\n"))
                    cut -= 1
                }
            } catch {}
            if case .mapping(let mapping)? = node {
                if let planName = mapping["name"]?.string { name = planName }
                if let notify = mapping["notify"], let notifiers = try? decodeNotifiers(notify, origin: path, baseDirectory: base), !notifiers.isEmpty {
                    return (name, notifiers)
                }
            }
        }
        let fromEnvironment = (try? environmentNotifiers()) ?? []
        return (name, fromEnvironment)
    }

    /// The line a YAML syntax error points at.
    static func errorLine(_ error: YamlError) -> Int? {
        switch error {
        case .scanner(_, _, let mark, _), .parser(_, _, let mark, _), .composer(_, _, let mark, _): mark.line
        default: nil
        }
    }

    /// Decodes only a `notify:` section.
    func decodeNotifiers(_ section: Node, origin: String, baseDirectory: String) throws -> [FilteredNotifier] {
        guard Self.nodeCount(section, upTo: Self.maximumPlanNodes) <= Self.maximumPlanNodes else {
            throw BackupError(.invalidPlan, "\(origin): the notify section is too large once its aliases are expanded")
        }
        let interpolated = try PlanInterpolation(environment: environment, origin: origin).apply(section)
        let context = PlanDecodingContext(registry: registry, baseDirectory: baseDirectory, environment: environment, origin: origin)
        return try YAMLDecoder().decode(NotifySection.self, from: interpolated, userInfo: [PlanDecodingContext.key: context]).notifiers.map(\.notifier)
    }

    /// The notifiers the environment variables describe.
    func environmentNotifiers() throws -> [FilteredNotifier] {
        let entries = registry.environmentContributors.filter { $0.section == "notify" }.flatMap { contributor in
            (try? contributor.contribute(environment)) ?? []
        }
        guard !entries.isEmpty else { return [] }
        let data = try JSONEncoder().encode(Self.escapingDollars(.array(entries)))
        guard let node = try Yams.compose(yaml: String(decoding: data, as: UTF8.self)) else { return [] }
        return try decodeNotifiers(node, origin: Self.environmentOrigin, baseDirectory: FileManager.default.currentDirectoryPath)
    }
}

