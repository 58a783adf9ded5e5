"""The CERT insider-threat evaluation harness (``hrsignal eval cert``).

It measures how well hrsignal's "Data theft by departing users" policy finds the scenario-2
insiders of a CERT Insider Threat Test Dataset release (CMU SEI, r4.2 / r5.2) that the user
downloaded, and compares it with two baselines on the same derived input. The CERT data may not
be redistributed: this package ships none, and its tests run on a synthetic organisation written
in the same layout (:mod:`hrsignal.evaluation.synth`).

Pipeline (:func:`hrsignal.evaluation.harness.evaluate`):

1. :mod:`~hrsignal.evaluation.prepare` streams the release into a slim copy (content columns
   dropped, web visits filtered early, line endings unified) and notes each quirk met;
2. :mod:`~hrsignal.evaluation.hrderive` derives resignations from the LDAP snapshots and the last
   logons, writes them as an HR CSV and brings them through the connector path;
3. :mod:`~hrsignal.evaluation.detect` imports the activity with the risk engine's CERT importer
   and runs its policy once per notice period;
4. :mod:`~hrsignal.evaluation.baselines` scores the two baselines on the same user-days;
5. :mod:`~hrsignal.evaluation.metrics` scores every ranking against ``answers/``.
"""
