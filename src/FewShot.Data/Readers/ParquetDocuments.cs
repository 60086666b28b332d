using Parquet;

namespace FewShot.Data.Readers;

/// <summary>Reads the text column of a Parquet file (how Hugging Face datasets ship) one row group at a time.</summary>
public static class ParquetDocuments
{
    public static IEnumerable<SourceDocument> Read(string file, string column, ReadLog log)
    {
        ParquetReader reader;
        try { reader = ParquetReader.CreateAsync(file).GetAwaiter().GetResult(); }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or ArgumentException || e.GetType().Namespace?.StartsWith("Parquet") == true)
        {
            log.Skip($"{file}: not a readable Parquet file ({e.Message})");
            yield break;
        }
        try
        {
            var field = reader.Schema.DataFields.FirstOrDefault(f => f.Name == column || f.Path.ToString() == column);
            if (field is null || (field.ClrType != typeof(string) && field.ClrType != typeof(ReadOnlyMemory<char>)))
                throw new FormatException($"{file}: Parquet file has no string column '{column}' (columns: {string.Join(", ", reader.Schema.DataFields.Select(f => $"{f.Name}:{f.ClrType.Name}"))}); set \"text_field\"");
            long row = 0;
            for (var g = 0; g < reader.RowGroupCount; g++)
            {
                string?[] values;
                using (var group = reader.OpenRowGroupReader(g))
                {
                    values = new string?[group.RowCount];
                    group.ReadAsync(field, values.AsMemory(), null).GetAwaiter().GetResult();
                }
                foreach (var value in values)
                {
                    row++;
                    if (value is null) { log.Skip($"{file}: row {row}: column '{column}' is null"); continue; }
                    yield return new SourceDocument(value, $"{file}:row {row}");
                }
            }
        }
        finally { reader.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
    }
}
