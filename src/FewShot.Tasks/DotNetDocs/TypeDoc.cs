namespace FewShot.Tasks.DotNetDocs;

/// <summary>One documented .NET type: "System.Collections" / "BitArray" / "Manages a compact array of bit values ...".</summary>
public sealed record TypeDoc(string Namespace, string Name, string Summary)
{
    public string FullName => $"{Namespace}.{Name}";
}

public enum NamespaceSplit
{
    /// <summary>Namespaces the built-in pretraining corpus may contain.</summary>
    InDistribution,
    /// <summary><see cref="DotNetTypeDocs.HeldOutNamespaces"/>: kept out of pretraining, for out-of-distribution evaluation.</summary>
    HeldOut,
}
