package io.beambatchput.examples;

import java.util.ArrayList;
import java.util.List;
import org.apache.beam.sdk.Pipeline;
import org.apache.beam.sdk.extensions.python.PythonExternalTransform;
import org.apache.beam.sdk.io.TextIO;
import org.apache.beam.sdk.options.Description;
import org.apache.beam.sdk.options.PipelineOptions;
import org.apache.beam.sdk.options.PipelineOptionsFactory;
import org.apache.beam.sdk.options.Validation;
import org.apache.beam.sdk.schemas.Schema;
import org.apache.beam.sdk.transforms.Create;
import org.apache.beam.sdk.transforms.MapElements;
import org.apache.beam.sdk.values.PCollection;
import org.apache.beam.sdk.values.PCollectionTuple;
import org.apache.beam.sdk.values.Row;
import org.apache.beam.sdk.values.TypeDescriptors;

/**
 * Writes readings to AWS IoT SiteWise from Java with beam-batchput's {@code WriteToSiteWise},
 * expanded by a Python expansion service, and writes the receipts and dead letters it returns
 * as text lines ({@code <output>/written*}, {@code <output>/failed*}).
 */
public class WriteToSiteWiseFromJava {

  /** Options of this pipeline, beside the runner's. */
  public interface Options extends PipelineOptions {
    @Description("host:port of a Python expansion service allowing beam_batchput.*")
    @Validation.Required
    String getPythonExpansionService();

    void setPythonExpansionService(String value);

    @Description("AWS Region of the writer's client")
    @Validation.Required
    String getRegionName();

    void setRegionName(String value);

    @Description("A custom endpoint, e.g. the local emulator; empty for the service's own")
    String getEndpointUrl();

    void setEndpointUrl(String value);

    @Description("Property aliases to write, comma-separated")
    @Validation.Required
    String getAliases();

    void setAliases(String value);

    @Description("Epoch seconds of the first reading")
    @Validation.Required
    Long getStartSeconds();

    void setStartSeconds(Long value);

    @Description("Where the receipts and dead letters go as text")
    @Validation.Required
    String getOutput();

    void setOutput(String value);
  }

  static final Schema READING =
      Schema.builder()
          .addStringField("property_alias")
          .addDoubleField("value")
          .addInt64Field("timestamp")
          .build();

  public static void main(String[] args) {
    Options options = PipelineOptionsFactory.fromArgs(args).withValidation().as(Options.class);
    Pipeline pipeline = Pipeline.create(options);

    List<Row> readings = new ArrayList<>();
    for (String alias : options.getAliases().split(",")) {
      for (int n = 0; n < 5; n++) {
        readings.add(
            Row.withSchema(READING)
                .addValues(alias, (double) n, options.getStartSeconds() + n)
                .build());
      }
    }

    PythonExternalTransform<PCollection<Row>, PCollectionTuple> write =
        PythonExternalTransform.<PCollection<Row>, PCollectionTuple>from(
                "beam_batchput.WriteToSiteWise", options.getPythonExpansionService())
            .withKwarg("region_name", options.getRegionName())
            .withKwarg("max_buffering_seconds", 1.0);
    if (options.getEndpointUrl() != null && !options.getEndpointUrl().isEmpty()) {
      write = write.withKwarg("endpoint_url", options.getEndpointUrl());
    }
    PCollectionTuple result =
        pipeline.apply("Readings", Create.of(readings).withRowSchema(READING))
            .apply("WriteToSiteWise", write);

    result
        .<Row>get("written")
        .apply(
            "FormatReceipts",
            MapElements.into(TypeDescriptors.strings())
                .via((Row r) -> r.getString("service") + " " + r.getString("resource")))
        .apply("WriteReceipts", TextIO.write().to(options.getOutput() + "/written").withNumShards(1));
    result
        .<Row>get("failed")
        .apply(
            "FormatDeadLetters",
            MapElements.into(TypeDescriptors.strings())
                .via(
                    (Row r) ->
                        r.getString("resource")
                            + " "
                            + r.getString("stage")
                            + " "
                            + r.getString("error_code")))
        .apply(
            "WriteDeadLetters", TextIO.write().to(options.getOutput() + "/failed").withNumShards(1));

    pipeline.run().waitUntilFinish();
  }
}
