package dev.kvdecode.runtime.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.kvdecode.runtime.model.Model;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.util.Arrays;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;

/** {@code kvdecode tokenize}: prints the token ids of a text. */
@Command(name = "tokenize", mixinStandardHelpOptions = true, description = "Print the token ids of a text.")
final class TokenizeCommand implements Callable<Integer> {
    @Mixin ModelOptions model = new ModelOptions();
    @Spec picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--text", required = true, description = "the text to tokenize")
    String text;

    @Option(names = "--json", description = "print {\"ids\": [...], \"tokens\": n} as one JSON object")
    boolean json;

    @Override
    public Integer call() throws Exception {
        Model m = model.load();
        int[] ids = m.tokenizer().encode(text);
        var out = spec.commandLine().getOut();
        if (json) {
            ObjectMapper mapper = new ObjectMapper();
            ObjectNode o = mapper.createObjectNode();
            o.put("model", m.name());
            var arr = o.putArray("ids");
            for (int id : ids) arr.add(id);
            o.put("tokens", ids.length);
            out.println(mapper.writeValueAsString(o));
        } else {
            out.println(Arrays.stream(ids).mapToObj(Integer::toString).collect(Collectors.joining(" ")));
        }
        out.flush();
        return 0;
    }
}
