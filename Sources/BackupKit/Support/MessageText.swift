extension String {
    /// The text for an error or a warning: a name longer than 200 characters keeps its first 120 and
    /// last 60, with how much was left out between them, so a hostile 10,000-byte entry name cannot
    /// make a 20 KB message.
    package var shortenedForMessage: String {
        guard count > 200 else { return self }
        return "\(prefix(120))…(\(count - 180) more characters)…\(suffix(60))"
    }

    /// The text with each word longer than 200 characters shortened as ``shortenedForMessage`` does.
    package var withLongWordsShortened: String {
        split(separator: " ", omittingEmptySubsequences: false).map { $0.count > 200 ? String($0).shortenedForMessage : String($0) }
            .joined(separator: " ")
    }
}
