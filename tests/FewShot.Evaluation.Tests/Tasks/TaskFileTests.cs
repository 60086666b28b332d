using FewShot.Evaluation.TaskFiles;

namespace FewShot.Evaluation.Tests.Tasks;

public class TaskFileTests
{
    const string Valid = """
        {"name": "capitals", "description": "Name the capital.", "splits": {"test": {"jsonl": "qa.jsonl"}},
         "query_template": "Q: {question}\nA:", "answer_template": "{answer}", "output_type": "multiple_choice"}
        """;

    static string WriteTask(TempFolder folder, string json, string jsonl)
    {
        File.WriteAllText(folder.File("qa.jsonl"), jsonl);
        File.WriteAllText(folder.File("task.json"), json);
        return folder.File("task.json");
    }

    const string Questions = """
        {"question": "France?", "choices": ["Paris", "Rome"], "answer": 0}
        {"question": "Italy?", "choices": ["Paris", "Rome"], "answer": "Rome"}
        {"question": "Spain?", "choices": ["Madrid", "Rome"], "answer": 0}
        """;

    [Fact]
    public void AQuestionFileLoadsWithChoicesAndDefaults()
    {
        using var folder = new TempFolder();
        var task = EvalTask.Load(TaskConfig.Load(WriteTask(folder, Valid, Questions)));
        Assert.Equal(3, task.Eval.Count);
        Assert.Same(task.Eval, task.Demos); // no train split: demonstrations come from the test split
        Assert.Equal("Q: Italy?\nA:", task.Eval[1].Query);
        Assert.Equal("Rome", task.Eval[1].Answer);
        Assert.Equal(1, task.Eval[1].AnswerIndex);
        Assert.Equal(["Paris", "Rome"], task.Eval[1].Choices!);
        Assert.Equal("acc_per_token", task.Config.PrimaryMetric);
        Assert.Equal(16, task.Config.Hash.Length);
    }

    [Theory]
    [InlineData("name")]
    [InlineData("splits")]
    [InlineData("query_template")]
    [InlineData("answer_template")]
    [InlineData("output_type")]
    public void AMissingFieldIsNamedWithTheFile(string field)
    {
        using var folder = new TempFolder();
        var node = System.Text.Json.Nodes.JsonNode.Parse(Valid)!.AsObject();
        node.Remove(field);
        var path = WriteTask(folder, node.ToJsonString(), Questions);
        var e = Assert.Throws<FormatException>(() => TaskConfig.Load(path));
        Assert.Equal($"{path}: missing field '{field}'", e.Message);
    }

    [Fact]
    public void ATemplateNamingAnUnknownFieldIsAnErrorNamingIt()
    {
        using var folder = new TempFolder();
        var path = WriteTask(folder, Valid.Replace("{question}", "{questoin}"), Questions);
        var e = Assert.Throws<FormatException>(() => EvalTask.Load(TaskConfig.Load(path)));
        Assert.Contains("query_template", e.Message);
        Assert.Contains("unknown field 'questoin'", e.Message);
        Assert.Contains("question", e.Message.Split("have:")[1]);
    }

    [Fact]
    public void AJsonlLineThatDoesNotParseIsNamedByFileAndLine()
    {
        using var folder = new TempFolder();
        var path = WriteTask(folder, Valid, Questions + "\n{\"question\": \"Peru?\", \"choices\": [\"Lima\"\n");
        var e = Assert.Throws<FormatException>(() => EvalTask.Load(TaskConfig.Load(path)));
        Assert.StartsWith($"{folder.File("qa.jsonl")}:4: not valid JSON", e.Message);
    }

    [Fact]
    public void AnEmptyTaskIsAClearError()
    {
        using var folder = new TempFolder();
        var path = WriteTask(folder, Valid, "\n");
        var e = Assert.Throws<InvalidDataException>(() => EvalTask.Load(TaskConfig.Load(path)));
        Assert.Contains("has no documents in split 'test'", e.Message);
    }

    [Fact]
    public void ContextCompletionLinesAreReadAsGpt3ReleasedThem()
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("arith.jsonl"), "{\"context\": \"Q: What is 1 plus 2? A:\", \"completion\": \" 3\"}\n");
        File.WriteAllText(folder.File("t.json"), """
            {"name": "a", "splits": {"test": {"jsonl": "arith.jsonl"}}, "query_template": "{context}",
             "answer_template": "{completion}", "answer_delimiter": "", "output_type": "loglikelihood"}
            """);
        var task = EvalTask.Load(TaskConfig.Load(folder.File("t.json")));
        Assert.Equal("Q: What is 1 plus 2? A: 3", task.Eval[0].Demonstration(task.Config.AnswerDelimiter));
    }

    [Fact]
    public void EveryBuiltInTaskParsesAndTheSyntheticOnesAreAllThere()
    {
        var names = BuiltInTasks.All.Select(t => t.Name).ToHashSet();
        Assert.Subset(names, BuiltInTasks.Synthetic.ToHashSet());
        Assert.Contains("dotnet-types-mc", names);
        Assert.Contains("dotnet-types-qa", names);
        Assert.Equal(OutputType.MultipleChoice, BuiltInTasks.Resolve("dotnet-types-mc")[0].OutputType);
        Assert.Equal(OutputType.GenerateUntil, BuiltInTasks.Resolve("dotnet-types-qa")[0].OutputType);
        var twoDigit = EvalTask.Load(BuiltInTasks.Resolve("2D+")[0]);
        Assert.Equal(2000, twoDigit.Eval.Count);
        Assert.Matches(@"^\n\nQ: What is \d{1,3} plus \d{1,3}\?\n\nA:$", twoDigit.Ood![0].Query);
        Assert.Equal(21, BuiltInTasks.Resolve("synthetic").Count);   // the paper's fifteen and the six word-list rules
        Assert.Equal(10, BuiltInTasks.Resolve("arithmetic").Count);
        Assert.Equal(5, BuiltInTasks.Resolve("scrambling").Count);
        var e = Assert.Throws<ArgumentException>(() => BuiltInTasks.Resolve("7D+"));
        Assert.Contains("unknown task '7D+'", e.Message);
    }
}
