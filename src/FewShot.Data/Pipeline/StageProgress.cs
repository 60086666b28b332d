namespace FewShot.Data;

/// <summary>Progress of one stage for one source (for a progress bar): <see cref="Done"/> of <see cref="Total"/> (null when unknown) <see cref="Unit"/>.</summary>
public sealed record StageProgress(string Stage, string Source, long Done, long? Total, string Unit);
