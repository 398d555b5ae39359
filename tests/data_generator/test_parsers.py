"""Tests of `DataGenerator.parse_csv`, `parse_xml` and `parse_json` on small files."""

# ruff: noqa: NPY002 - the library draws from the legacy global generator, as the original

from __future__ import annotations

import json
import shutil

import golden_replay
import numpy as np
import pytest

from data_generator.object_detection_2d_data_generator import (
    AnnotationError,
    DataGenerator,
    DatasetError,
    MissingFileError,
)

DATASET = golden_replay.GOLDEN_DIR / "dataset"
IMAGES = str(DATASET / "JPEGImages")
UDACITY = ["image_name", "xmin", "xmax", "ymin", "ymax", "class_id"]
HEADER = "frame,xmin,xmax,ymin,ymax,class_id\n"


def _parse_csv(path, input_format=UDACITY, **kwargs):
    generator = DataGenerator(verbose=False, **kwargs.pop("ctor", {}))
    result = generator.parse_csv(IMAGES, str(path), input_format, ret=True, verbose=False, **kwargs)
    return generator, result


def _write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


# ----------------------------------------------------------------------------------------------
# CSV


def test_csv_sorts_and_groups_rows(tmp_path):
    path = _write(
        tmp_path,
        "l.csv",
        HEADER + "b.jpg,5,9,1,4,2\na.jpg,30,40,3,9,1\nb.jpg,1,7,2,3,2\nb.jpg,0,1,0,1,1\n",
    )
    generator, (images, filenames, labels, image_ids) = _parse_csv(path)
    assert images is None
    assert filenames == [f"{IMAGES}/a.jpg", f"{IMAGES}/b.jpg"]
    assert image_ids == ["a", "b"]
    np.testing.assert_array_equal(labels[0], [[1, 30, 3, 40, 9]])
    np.testing.assert_array_equal(labels[1], [[1, 0, 0, 1, 1], [2, 1, 2, 7, 3], [2, 5, 1, 9, 4]])
    assert labels[1].dtype.kind == "i"
    assert generator.dataset_size == 2
    np.testing.assert_array_equal(generator.dataset_indices, [0, 1])


def test_csv_any_column_order_and_output_format(tmp_path):
    path = _write(tmp_path, "l.csv", "c,f,y0,x0,y1,x1\n3,img.1.png,10,20,30,40\n")
    input_format = ["class_id", "image_name", "ymin", "xmin", "ymax", "xmax"]
    output_format = ("xmin", "xmax", "ymin", "ymax", "class_id")
    generator, (_, _, labels, ids) = _parse_csv(
        path, input_format, ctor={"labels_output_format": output_format}
    )
    assert ids == ["img"]
    np.testing.assert_array_equal(labels[0], [[20, 40, 10, 30, 3]])
    assert generator.labels_format == {"class_id": 4, "xmin": 0, "ymin": 2, "xmax": 1, "ymax": 3}


def test_csv_include_classes_and_float_coordinates(tmp_path):
    path = _write(
        tmp_path, "l.csv", HEADER + "a.jpg,1.5,8,2,9,1\na.jpg,1,2,3,4,2\nb.jpg,1,2,3,4,2\n"
    )
    _, (_, filenames, labels, _) = _parse_csv(path, include_classes=[1])
    assert filenames == [f"{IMAGES}/a.jpg"]
    np.testing.assert_array_equal(labels[0], [[1, 1.5, 2, 8, 9]])


def test_csv_random_sample_draws_one_number_per_image(tmp_path):
    rows = "".join(f"{k:03d}.jpg,1,2,3,4,1\n" for k in range(40))
    path = _write(tmp_path, "l.csv", HEADER + rows)
    np.random.seed(7)
    draws = np.random.uniform(0, 1, size=40)
    np.random.seed(7)
    _, (_, _, _, ids) = _parse_csv(path, random_sample=0.25)
    assert ids == [f"{k:03d}" for k in range(40) if draws[k] >= 0.75]


def test_csv_golden_file_with_progress_bar(capsys):
    generator = DataGenerator(verbose=False)
    generator.parse_csv(IMAGES, str(DATASET / "labels.csv"), UDACITY, verbose=True)
    assert "Processing 'labels.csv'" in capsys.readouterr().out
    assert generator.get_dataset_size() == 10


def test_csv_missing_file(tmp_path):
    with pytest.raises(MissingFileError, match="nothing.csv"):
        _parse_csv(tmp_path / "nothing.csv")


def test_csv_none_arguments():
    with pytest.raises(ValueError, match="labels_filename"):
        DataGenerator(verbose=False).parse_csv(IMAGES, None, UDACITY)


def test_csv_missing_column_in_header(tmp_path):
    path = _write(tmp_path, "five.csv", "frame,xmin,xmax,ymin,ymax\na.jpg,1,2,3,4\n")
    with pytest.raises(AnnotationError, match=r"five\.csv.*line 1.*\['class_id'\]"):
        _parse_csv(path)


def test_csv_short_row(tmp_path):
    path = _write(tmp_path, "short.csv", HEADER + "a.jpg,1,2,3,4,1\nb.jpg,1,2\n")
    with pytest.raises(AnnotationError, match=r"short\.csv', line 3.*'b\.jpg', '1', '2'"):
        _parse_csv(path)


def test_input_format_without_a_needed_name(tmp_path):
    path = _write(tmp_path, "l.csv", HEADER + "a.jpg,1,2,3,4,1\n")
    with pytest.raises(ValueError, match=r"lacks the column\(s\) \['ymax'\]"):
        _parse_csv(path, ["image_name", "xmin", "xmax", "ymin", "y_max", "class_id"])


@pytest.mark.parametrize(
    ("value", "column", "problem"),
    [("abc", "ymin", "not a number"), ("nan", "ymin", "not a finite"), ("-inf", "ymin", "finite")],
)
def test_csv_bad_coordinate_names_file_line_and_value(tmp_path, value, column, problem):
    path = _write(tmp_path, "bad.csv", HEADER + f"a.jpg,1,2,3,4,1\na.jpg,1,2,{value},4,1\n")
    with pytest.raises(AnnotationError, match=rf"bad\.csv', line 3: {column} value '{value}'"):
        _parse_csv(path)
    with pytest.raises(ValueError, match=problem):
        _parse_csv(path)


def test_csv_bad_class_id(tmp_path):
    path = _write(tmp_path, "bad.csv", HEADER + "a.jpg,1,2,3,4,car\n")
    with pytest.raises(AnnotationError, match=r"line 2: class_id value 'car'"):
        _parse_csv(path)


def test_csv_header_in_another_order_than_input_format(tmp_path):
    """The tutorial's input_format on a file whose header says corners order: refused, and the
    suggested input_format reads the file right."""
    path = _write(
        tmp_path, "corners.csv", "frame,xmin,ymin,xmax,ymax,class_id\na.jpg,1,2,30,40,1\n"
    )
    with pytest.raises(AnnotationError) as info:
        _parse_csv(path)
    message = str(info.value)
    assert message.startswith(f"'{path}', line 1: the header ['frame', 'xmin', 'ymin', 'xmax',")
    assert f"`input_format` {UDACITY}" in message
    assert "'xmax' is header[3] but input_format[2]; 'ymin' is header[2] but input_format[3]" in (
        message
    )
    suggested = ["image_name", "xmin", "ymin", "xmax", "ymax", "class_id"]
    assert f"pass input_format={suggested}" in message
    _, (_, _, labels, _) = _parse_csv(path, suggested)
    np.testing.assert_array_equal(labels[0], [[1, 1, 2, 30, 40]])


@pytest.mark.parametrize(
    ("header", "pattern"),
    [
        # a leading id column shifts every recognised name by one
        (
            "id,frame,xmin,xmax,ymin,ymax,class_id",
            r"'image_name' is header\[1\] but input_format\[0\]",
        ),
        # class first, names in other spellings
        (
            "Label,File Name,X_Min,XMAX,ymin,ymax",
            r"'class_id' is header\[0\] but input_format\[5\]",
        ),
        # only some cells recognised: no full input_format to suggest
        (
            "img_id,xmin,ymin,right,bottom,c",
            r"'xmin'.*'ymin' is header\[2\].*header's column order",
        ),
    ],
)
def test_csv_header_contradicting_input_format(tmp_path, header, pattern):
    path = _write(tmp_path, "h.csv", f"{header}\na.jpg,1,2,30,40,1,7\n")
    generator = DataGenerator(verbose=False)
    with pytest.raises(AnnotationError, match=rf"h\.csv', line 1: .*{pattern}"):
        generator.parse_csv(IMAGES, str(path), UDACITY, verbose=False)
    assert generator.get_dataset_size() == 0


@pytest.mark.parametrize(
    "header",
    [
        "frame,xmin,xmax,ymin,ymax,class_id",
        "\ufeff Filename , XMin,X-Max,y_min,Y MAX,Class ID,comment",  # BOM, case, spaces, extra
        "image,xmin,xmax,ymin,ymax,label",
        "file,left,right,top,bottom,category",  # only the image column is recognised
        "a,b,c,d,e,f",  # nothing recognised: read by position, as the original
        "0,1,2,3,4,5",
        "000001.jpg,10,20,30,40,1",  # a first data row taken as the header is skipped
    ],
)
def test_csv_headers_read_by_position(tmp_path, header):
    path = _write(tmp_path, "h.csv", f"{header}\na.jpg,1,30,2,40,1\n")
    _, (_, filenames, labels, _) = _parse_csv(path)
    assert filenames == [f"{IMAGES}/a.jpg"]
    np.testing.assert_array_equal(labels[0], [[1, 1, 2, 30, 40]])


def test_csv_header_check_follows_any_input_format(tmp_path):
    """The original Udacity (crowdai) header order works when input_format follows it."""
    path = _write(
        tmp_path,
        "crowdai.csv",
        "xmin,ymin,xmax,ymax,Frame,Label,Preview URL\n1,2,30,40,a.jpg,3,u\n",
    )
    input_format = ["xmin", "ymin", "xmax", "ymax", "image_name", "class_id"]
    _, (_, _, labels, _) = _parse_csv(path, input_format)
    np.testing.assert_array_equal(labels[0], [[3, 1, 2, 30, 40]])
    with pytest.raises(AnnotationError, match=r"crowdai\.csv', line 1.*input_format=\['xmin',"):
        _parse_csv(path)


def test_csv_skips_blank_lines(tmp_path):
    path = _write(tmp_path, "l.csv", HEADER + "a.jpg,1,2,3,4,1\n\n  ,\n")
    _, (_, filenames, _, _) = _parse_csv(path)
    assert len(filenames) == 1


# ----------------------------------------------------------------------------------------------
# Pascal VOC XML


def _voc_dir(tmp_path, annotations: dict[str, str]):
    (tmp_path / "Annotations").mkdir()
    for image_id, text in annotations.items():
        (tmp_path / "Annotations" / f"{image_id}.xml").write_text(text)
    image_set = tmp_path / "set.txt"
    image_set.write_text("\n".join(annotations) + "\n")
    return [IMAGES], [str(image_set)], [str(tmp_path / "Annotations")]


def _object(name="car", box=("1", "2", "3", "4"), extra=""):
    coords = "".join(
        f"<{tag}>{value}</{tag}>"
        for tag, value in zip(("xmin", "ymin", "xmax", "ymax"), box, strict=True)
    )
    return f"<object><name>{name}</name>{extra}<bndbox>{coords}</bndbox></object>"


def _annotation(*objects):
    return f"<annotation><folder>F</folder>{''.join(objects)}</annotation>"


def test_voc_filters_and_defaults(tmp_path):
    flags = "<pose>Left</pose><truncated>{}</truncated><difficult>{}</difficult>"
    dirs = _voc_dir(
        tmp_path,
        {
            "x1": _annotation(
                _object("car", extra=flags.format(1, 0)),
                _object("person", ("5", "6", "7.5", "8"), flags.format(0, 1)),
                _object("dog"),
            )
        },
    )
    generator = DataGenerator(verbose=False)
    _, filenames, labels, ids, neutral = generator.parse_xml(*dirs, ret=True, verbose=False)
    assert filenames == [f"{IMAGES}/x1.jpg"]
    assert ids == ["x1"]
    assert labels == [[[7, 1, 2, 3, 4], [15, 5, 6, 7.5, 8], [12, 1, 2, 3, 4]]]
    assert neutral == [[False, True, False]]
    _, _, labels, _, neutral = generator.parse_xml(
        *dirs, include_classes=[7, 15], exclude_truncated=True, ret=True, verbose=False
    )
    assert labels == [[[15, 5, 6, 7.5, 8]]]
    _, _, labels, _, neutral = generator.parse_xml(
        *dirs, exclude_difficult=True, ret=True, verbose=False
    )
    assert [row[0] for row in labels[0]] == [7, 12]


def test_voc_extra_output_columns(tmp_path):
    dirs = _voc_dir(tmp_path, {"x1": _annotation(_object("car"))})
    output = ("class_id", "xmin", "ymin", "xmax", "ymax", "folder", "image_id", "pose")
    generator = DataGenerator(labels_output_format=output, verbose=False)
    _, _, labels, _, _ = generator.parse_xml(*dirs, ret=True, verbose=False)
    assert labels == [[[7, 1, 2, 3, 4, "F", "x1", "Unspecified"]]]


def test_voc_without_annotations_and_progress(tmp_path, capsys):
    image_set = tmp_path / "s.txt"
    image_set.write_text("000001\n000002\n")
    generator = DataGenerator(verbose=False)
    result = generator.parse_xml([IMAGES], [str(image_set)], ret=True, verbose=True)
    assert result[2] is None
    assert result[4] is None
    assert "Processing image set 's.txt'" in capsys.readouterr().out


def test_voc_mismatched_lists():
    with pytest.raises(ValueError, match="one image set file per images directory"):
        DataGenerator(verbose=False).parse_xml([IMAGES, IMAGES], ["a.txt"], verbose=False)


def test_voc_missing_files(tmp_path):
    with pytest.raises(MissingFileError, match="nope.txt"):
        DataGenerator(verbose=False).parse_xml([IMAGES], [str(tmp_path / "nope.txt")])
    image_set = tmp_path / "s.txt"
    image_set.write_text("ghost\n")
    (tmp_path / "A").mkdir()
    with pytest.raises(MissingFileError, match=r"ghost\.xml"):
        DataGenerator(verbose=False).parse_xml(
            [IMAGES], [str(image_set)], [str(tmp_path / "A")], verbose=False
        )


@pytest.mark.parametrize(
    ("text", "pattern"),
    [
        ("<annotation><object><name>car</name>", r"x1\.xml', line 1, column \d+: malformed XML"),
        (_annotation(_object("unicorn")), r"object 0: class name 'unicorn' is not in"),
        (_annotation(_object(), _object(box=("1", "2", "x", "4"))), r"object 1: xmax value 'x'"),
        (_annotation(_object(box=("1", "nan", "3", "4"))), r"object 0: ymin value 'nan'"),
        (_annotation("<object><name>car</name></object>"), r"object 0: the <bndbox> element"),
        (_annotation("<object><bndbox/></object>"), r"object 0: the <name> element is missing"),
        (_annotation(_object(extra="<difficult>yes</difficult>")), r"<difficult> value 'yes'"),
    ],
)
def test_voc_bad_annotation_names_file_and_object(tmp_path, text, pattern):
    dirs = _voc_dir(tmp_path, {"x1": text})
    generator = DataGenerator(verbose=False)
    with pytest.raises(AnnotationError, match=pattern):
        generator.parse_xml(*dirs, verbose=False)
    assert generator.get_dataset_size() == 0


# ----------------------------------------------------------------------------------------------
# MS COCO JSON

COCO = {
    "categories": [{"id": 5, "name": "bus"}, {"id": 2, "name": "bicycle"}],
    "images": [
        {"id": 11, "file_name": "000001.jpg"},
        {"id": 12, "file_name": "000002.jpg"},
        {"id": 13, "file_name": "000003.jpg"},
    ],
    "annotations": [
        {"id": 1, "image_id": 12, "category_id": 2, "bbox": [1.5, 2, 10, 20.25]},
        {"id": 2, "image_id": 11, "category_id": 5, "bbox": [0, 0, 4, 4]},
        {"id": 3, "image_id": 12, "category_id": 5, "bbox": [3, 4, 5, 6]},
    ],
}


def _coco_file(tmp_path, document=COCO, name="ann.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document) if isinstance(document, dict) else document)
    return str(path)


def test_coco_with_ground_truth(tmp_path):
    generator = DataGenerator(verbose=False)
    _, filenames, labels, ids = generator.parse_json(
        [IMAGES], [_coco_file(tmp_path)], ground_truth_available=True, ret=True, verbose=False
    )
    assert ids == [11, 12, 13]
    assert filenames[1] == f"{IMAGES}/000002.jpg"
    assert labels == [[[1, 0, 0, 4, 4]], [[2, 1.5, 2, 11.5, 22.25], [1, 3, 4, 8, 10]], []]
    assert generator.cats_to_classes == {5: 1, 2: 2}
    assert generator.classes_to_cats == {1: 5, 2: 2}
    assert generator.classes_to_names == ["background", "bus", "bicycle"]
    assert generator.cats_to_names == {5: "bus", 2: "bicycle"}


def test_coco_include_classes_uses_original_ids(tmp_path):
    """As in the original, the filter takes COCO category ids, the labels hold consecutive ids."""
    generator = DataGenerator(verbose=False)
    _, _, labels, _ = generator.parse_json(
        [IMAGES],
        [_coco_file(tmp_path)],
        ground_truth_available=True,
        include_classes=[5],
        ret=True,
        verbose=False,
    )
    assert labels == [[[1, 0, 0, 4, 4]], [[1, 3, 4, 8, 10]], []]


def test_coco_two_files_and_images_without_boxes_in_generate(tmp_path):
    second = {**COCO, "images": [{"id": 99, "file_name": "000011.jpg"}], "annotations": []}
    generator = DataGenerator(verbose=False)
    generator.parse_json(
        [IMAGES, IMAGES],
        [_coco_file(tmp_path), _coco_file(tmp_path, second, "b.json")],
        ground_truth_available=True,
        verbose=False,
    )
    assert generator.image_ids == [11, 12, 13, 99]
    images, labels = next(
        generator.generate(
            batch_size=4,
            shuffle=False,
            returns={"processed_images", "processed_labels"},
            keep_images_without_gt=True,
        )
    )
    assert images.shape == (4, 300, 480, 3)
    assert [item.shape for item in labels] == [(1, 5), (2, 5), (0, 5), (0, 5)]


@pytest.mark.parametrize(
    ("document", "pattern"),
    [
        ('{"images": [', r"ann\.json', line 1, column \d+: malformed JSON"),
        ({"images": []}, r"'categories' is missing"),
        ({**COCO, "images": [{"id": 1}]}, r"images\[0\]: the key 'file_name' is missing"),
        (
            {**COCO, "annotations": [{"id": 7, "image_id": 11, "category_id": 9, "bbox": [1] * 4}]},
            r"annotations\[0\] \(id 7\): category_id 9",
        ),
        (
            {**COCO, "annotations": [{"id": 8, "image_id": 11, "category_id": 5, "bbox": [1, 2]}]},
            r"\(id 8\): bbox \[1, 2\] is not a list of 4 numbers",
        ),
        (
            {
                **COCO,
                "annotations": [
                    {"id": 9, "image_id": 11, "category_id": 5, "bbox": [1, "a", 2, 3]}
                ],
            },
            r"\(id 9\): bbox .* value 'a'",
        ),
    ],
)
def test_coco_bad_files(tmp_path, document, pattern):
    generator = DataGenerator(verbose=False)
    with pytest.raises(AnnotationError, match=pattern):
        generator.parse_json(
            [IMAGES], [_coco_file(tmp_path, document)], ground_truth_available=True, verbose=False
        )


def test_coco_annotation_of_an_unknown_image(tmp_path):
    annotations = [
        *COCO["annotations"],
        {"id": 44, "image_id": 77, "category_id": 5, "bbox": [1] * 4},
    ]
    path = _coco_file(tmp_path, {**COCO, "annotations": annotations})
    generator = DataGenerator(verbose=False)
    with pytest.raises(
        AnnotationError, match=r"ann\.json', annotations\[3\] \(id 44\): image_id 77 is not"
    ):
        generator.parse_json([IMAGES], [path], ground_truth_available=True, verbose=False)
    assert generator.get_dataset_size() == 0
    # without ground truth the annotations are not read
    generator.parse_json([IMAGES], [path], verbose=False)
    assert generator.image_ids == [11, 12, 13]


def test_coco_annotations_checked_against_their_own_file(tmp_path):
    """An annotation in the second file may not point at an image of the first file."""
    second = {
        **COCO,
        "images": [{"id": 99, "file_name": "000011.jpg"}],
        "annotations": [{"id": 5, "image_id": 11, "category_id": 5, "bbox": [1] * 4}],
    }
    with pytest.raises(AnnotationError, match=r"b\.json', annotations\[0\] \(id 5\): image_id 11"):
        DataGenerator(verbose=False).parse_json(
            [IMAGES, IMAGES],
            [_coco_file(tmp_path), _coco_file(tmp_path, second, "b.json")],
            ground_truth_available=True,
            verbose=False,
        )


def test_coco_duplicate_category_id(tmp_path):
    categories = [{"id": 5, "name": "bus"}, {"id": 2, "name": "bicycle"}, {"id": 5, "name": "car"}]
    path = _coco_file(tmp_path, {**COCO, "categories": categories})
    generator = DataGenerator(verbose=False)
    for ground_truth in (False, True):
        with pytest.raises(
            AnnotationError,
            match=r"ann\.json', categories\[2\]: category id 5 is already the id of "
            r"categories\[0\]",
        ):
            generator.parse_json(
                [IMAGES], [path], ground_truth_available=ground_truth, verbose=False
            )
    assert not hasattr(generator, "cats_to_classes")


def test_coco_duplicate_image_id(tmp_path):
    images = [*COCO["images"], {"id": 12, "file_name": "000005.jpg"}]
    path = _coco_file(tmp_path, {**COCO, "images": images})
    with pytest.raises(
        AnnotationError,
        match=r"ann\.json', images\[3\]: image id 12 is already the id of images\[1\]",
    ):
        DataGenerator(verbose=False).parse_json([IMAGES], [path], verbose=False)


def test_coco_nan_bbox(tmp_path):
    text = json.dumps(COCO).replace("[0, 0, 4, 4]", "[0, NaN, 4, 4]")
    with pytest.raises(AnnotationError, match=r"annotations\[1\] \(id 2\).*value nan"):
        DataGenerator(verbose=False).parse_json(
            [IMAGES], [_coco_file(tmp_path, text)], ground_truth_available=True, verbose=False
        )


def test_coco_missing_file(tmp_path):
    with pytest.raises(MissingFileError, match=r"none\.json"):
        DataGenerator(verbose=False).parse_json([IMAGES], [str(tmp_path / "none.json")])


def test_parsers_reload_images_into_memory(tmp_path):
    shutil.copy(DATASET / "JPEGImages" / "000001.jpg", tmp_path / "a.jpg")
    path = _write(tmp_path, "l.csv", HEADER + "a.jpg,1,2,3,4,1\n")
    generator = DataGenerator(load_images_into_memory=True, verbose=False)
    generator.parse_csv(str(tmp_path), str(path), UDACITY, verbose=False)
    assert len(generator.images) == 1
    assert generator.images[0].shape == (300, 480, 3)
    (tmp_path / "a.jpg").unlink()
    batch = next(generator.generate(batch_size=1, returns={"processed_images"}))
    assert batch[0].shape == (1, 300, 480, 3)


def test_empty_image_set_gives_dataset_error(tmp_path):
    image_set = tmp_path / "s.txt"
    image_set.write_text("\n")
    generator = DataGenerator(verbose=False)
    generator.parse_xml([IMAGES], [str(image_set)], verbose=False)
    with pytest.raises(DatasetError):
        next(generator.generate())
