extension Manifest {
    /// What is wrong with the names this manifest holds, or nil when every one follows the plan's own
    /// rules: the plan, tag, sink and source names are valid names (``ArtifactName/isValidName(_:)``),
    /// every subject is a valid subject (``ArtifactName/isValidSubject(_:)``), and every artifact's
    /// `name` is exactly ``ArtifactName/artifact(source:subject:timestamp:fileExtension:)`` of its own
    /// source, subject and the set's timestamp. `key` is where the manifest was read from: its plan and
    /// timestamp must be the ones the manifest records.
    ///
    /// A sink is storage other people can write to, and restores make paths of these names
    /// (`DIR/<source>`, `DIR/<subject>.sql`): a manifest that fails this check is never used.
    /// The problem names the field, such as `artifacts[1].source '../../escape' is not a valid name (…)`.
    public func nameProblem(key: String) -> String? {
        let nameRule = "(a letter or digit, then letters, digits, '.' and '-', at most 64)"
        let subjectRule = "(letters, digits, '.', '-' and '_', not empty, '.' or '..')"
        if !ArtifactName.isValidName(plan) { return "plan '\(plan)' is not a valid name \(nameRule)" }
        if key != self.key { return "it records plan '\(plan)' and set \(timestamp), which would be stored as \(self.key), not \(key)" }
        if let tag, !ArtifactName.isValidName(tag) { return "tag '\(tag)' is not a valid name \(nameRule)" }
        for (index, name) in (sources ?? []).enumerated() where !ArtifactName.isValidName(name) {
            return "sources[\(index)] '\(name)' is not a valid name \(nameRule)"
        }
        for (index, outcome) in sinks.enumerated() where !ArtifactName.isValidName(outcome.sink) {
            return "sinks[\(index)].sink '\(outcome.sink)' is not a valid name \(nameRule)"
        }
        var names = Set<String>()
        for (index, artifact) in artifacts.enumerated() {
            let field = "artifacts[\(index)]"
            if !ArtifactName.isValidName(artifact.source) { return "\(field).source '\(artifact.source)' is not a valid name \(nameRule)" }
            if !ArtifactName.isValidSubject(artifact.subject) { return "\(field).subject '\(artifact.subject)' is not a valid subject \(subjectRule)" }
            if artifact.isPack {
                guard ArtifactName.isPack(artifact.name, plan: plan, source: artifact.source) else {
                    return "\(field).name '\(artifact.name)' is not the name of a pack of its plan and source (pack_\(plan)_\(artifact.source)_<id>.<ext>)"
                }
                if !names.insert(artifact.name).inserted { return "\(field).name '\(artifact.name)' is listed twice" }
                continue
            }
            guard let parts = ArtifactName.parse(artifact.name),
                  artifact.name == ArtifactName.artifact(source: artifact.source, subject: artifact.subject, timestamp: timestamp, fileExtension: parts.fileExtension)
            else {
                let expected = ArtifactName.artifact(source: artifact.source, subject: artifact.subject, timestamp: timestamp, fileExtension: "<ext>")
                return "\(field).name '\(artifact.name)' is not the name of its source, subject and set (\(expected))"
            }
            if !names.insert(artifact.name).inserted { return "\(field).name '\(artifact.name)' is listed twice" }
        }
        return nil
    }
}
