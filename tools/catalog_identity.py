"""Family, display name, year and paper of a torchvision builder (tools/regen_catalog.py's table).

A new torchvision family needs one row in FAMILIES; timm's and smp's entries have theirs in
tools/catalog_zoo.py.
"""

from __future__ import annotations

import re
from typing import Any

# ---------------------------------------------------------------------------------------------
# Family, display name, year and paper of a builder: (regex on the builder name, family,
# display-name function, year, paper). First match wins.
# ---------------------------------------------------------------------------------------------


def _resnet(m: re.Match) -> str:
    return f"ResNet-{m.group(1)}"


FAMILIES: list[tuple[str, str, Any, int, str]] = [
    (r"^resnet(\d+)$", "ResNet", _resnet, 2015,
     "Deep Residual Learning for Image Recognition (arXiv:1512.03385)"),
    (r"^resnext(\d+)_(\w+)$", "ResNeXt", lambda m: f"ResNeXt-{m.group(1)} {m.group(2)}", 2016,
     "Aggregated Residual Transformations for Deep Neural Networks (arXiv:1611.05431)"),
    (r"^wide_resnet(\d+)_2$", "Wide ResNet", lambda m: f"Wide ResNet-{m.group(1)}-2", 2016,
     "Wide Residual Networks (arXiv:1605.07146)"),
    (r"^mobilenet_v2$", "MobileNet", lambda m: "MobileNet V2", 2018,
     "MobileNetV2: Inverted Residuals and Linear Bottlenecks (arXiv:1801.04381)"),
    (r"^mobilenet_v3_(small|large)$", "MobileNet", lambda m: f"MobileNet V3 {m.group(1).title()}", 2019,
     "Searching for MobileNetV3 (arXiv:1905.02244)"),
    (r"^shufflenet_v2_x(\d)_(\d)$", "ShuffleNet", lambda m: f"ShuffleNet V2 x{m.group(1)}.{m.group(2)}", 2018,
     "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design (arXiv:1807.11164)"),
    (r"^squeezenet1_(\d)$", "SqueezeNet", lambda m: f"SqueezeNet 1.{m.group(1)}", 2016,
     "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size (arXiv:1602.07360)"),
    (r"^efficientnet_b(\d)$", "EfficientNet", lambda m: f"EfficientNet-B{m.group(1)}", 2019,
     "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (arXiv:1905.11946)"),
    (r"^efficientnet_v2_(\w)$", "EfficientNet", lambda m: f"EfficientNetV2-{m.group(1).upper()}", 2021,
     "EfficientNetV2: Smaller Models and Faster Training (arXiv:2104.00298)"),
    (r"^convnext_(\w+)$", "ConvNeXt", lambda m: f"ConvNeXt-{m.group(1)[0].upper()}", 2022,
     "A ConvNet for the 2020s (arXiv:2201.03545)"),
    (r"^regnet_([xy])_(\w+)$", "RegNet",
     lambda m: f"RegNetY-{m.group(2).upper().replace('_', '.')}" if m.group(1) == "y"
     else f"RegNetX-{m.group(2).upper().replace('_', '.')}", 2020,
     "Designing Network Design Spaces (arXiv:2003.13678)"),
    (r"^vit_([bhl])_(\d+)$", "ViT",
     lambda m: f"ViT-{dict(b='B', l='L', h='H')[m.group(1)]}/{m.group(2)}", 2020,
     "An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale (arXiv:2010.11929)"),
    (r"^swin_v2_([tsb])$", "Swin", lambda m: f"Swin V2-{m.group(1).upper()}", 2021,
     "Swin Transformer V2: Scaling Up Capacity and Resolution (arXiv:2111.09883)"),
    (r"^swin_([tsb])$", "Swin", lambda m: f"Swin-{m.group(1).upper()}", 2021,
     "Swin Transformer: Hierarchical Vision Transformer using Shifted Windows (arXiv:2103.14030)"),
    (r"^densenet(\d+)$", "DenseNet", lambda m: f"DenseNet-{m.group(1)}", 2016,
     "Densely Connected Convolutional Networks (arXiv:1608.06993)"),
    (r"^vgg(\d+)(_bn)?$", "VGG", lambda m: f"VGG-{m.group(1)}{' (BN)' if m.group(2) else ''}", 2014,
     "Very Deep Convolutional Networks for Large-Scale Image Recognition (arXiv:1409.1556)"),
    (r"^alexnet$", "AlexNet", lambda m: "AlexNet", 2012,
     "ImageNet Classification with Deep Convolutional Neural Networks (NeurIPS 2012); "
     "torchvision's variant: One weird trick for parallelizing CNNs (arXiv:1404.5997)"),
    (r"^googlenet$", "GoogLeNet", lambda m: "GoogLeNet (Inception V1)", 2014,
     "Going Deeper with Convolutions (arXiv:1409.4842)"),
    (r"^inception_v3$", "Inception", lambda m: "Inception V3", 2015,
     "Rethinking the Inception Architecture for Computer Vision (arXiv:1512.00567)"),
    (r"^mnasnet(\d)_(\d+)$", "MNASNet", lambda m: f"MNASNet {m.group(1)}.{m.group(2)}", 2018,
     "MnasNet: Platform-Aware Neural Architecture Search for Mobile (arXiv:1807.11626)"),
    (r"^maxvit_t$", "MaxViT", lambda m: "MaxViT-T", 2022,
     "MaxViT: Multi-Axis Vision Transformer (arXiv:2204.01697)"),
    (r"^fasterrcnn_mobilenet_v3_large_(320_)?fpn$", "Faster R-CNN",
     lambda m: f"Faster R-CNN MobileNetV3-Large FPN{' 320' if m.group(1) else ''}", 2015,
     "Faster R-CNN: Towards Real-Time Object Detection with Region Proposal Networks (arXiv:1506.01497)"),
    (r"^fasterrcnn_resnet50_fpn_v2$", "Faster R-CNN", lambda m: "Faster R-CNN ResNet-50 FPN v2", 2021,
     "Benchmarking Detection Transfer Learning with Vision Transformers (arXiv:2111.11429)"),
    (r"^fasterrcnn_resnet50_fpn$", "Faster R-CNN", lambda m: "Faster R-CNN ResNet-50 FPN", 2015,
     "Faster R-CNN: Towards Real-Time Object Detection with Region Proposal Networks (arXiv:1506.01497)"),
    (r"^retinanet_resnet50_fpn_v2$", "RetinaNet", lambda m: "RetinaNet ResNet-50 FPN v2", 2021,
     "Benchmarking Detection Transfer Learning with Vision Transformers (arXiv:2111.11429)"),
    (r"^retinanet_resnet50_fpn$", "RetinaNet", lambda m: "RetinaNet ResNet-50 FPN", 2017,
     "Focal Loss for Dense Object Detection (arXiv:1708.02002)"),
    (r"^fcos_resnet50_fpn$", "FCOS", lambda m: "FCOS ResNet-50 FPN", 2019,
     "FCOS: Fully Convolutional One-Stage Object Detection (arXiv:1904.01355)"),
    (r"^ssd300_vgg16$", "SSD", lambda m: "SSD300 VGG-16", 2015,
     "SSD: Single Shot MultiBox Detector (arXiv:1512.02325)"),
    (r"^ssdlite320_mobilenet_v3_large$", "SSD", lambda m: "SSDlite320 MobileNetV3-Large", 2019,
     "Searching for MobileNetV3 (arXiv:1905.02244); SSDlite from MobileNetV2 (arXiv:1801.04381)"),
    (r"^maskrcnn_resnet50_fpn_v2$", "Mask R-CNN", lambda m: "Mask R-CNN ResNet-50 FPN v2", 2021,
     "Benchmarking Detection Transfer Learning with Vision Transformers (arXiv:2111.11429)"),
    (r"^maskrcnn_resnet50_fpn$", "Mask R-CNN", lambda m: "Mask R-CNN ResNet-50 FPN", 2017,
     "Mask R-CNN (arXiv:1703.06870)"),
    (r"^keypointrcnn_resnet50_fpn$", "Keypoint R-CNN", lambda m: "Keypoint R-CNN ResNet-50 FPN", 2017,
     "Mask R-CNN (arXiv:1703.06870)"),
    (r"^deeplabv3_(\w+)$", "DeepLabV3",
     lambda m: "DeepLabV3 " + {"resnet50": "ResNet-50", "resnet101": "ResNet-101",
                               "mobilenet_v3_large": "MobileNetV3-Large"}.get(m.group(1), m.group(1)), 2017,
     "Rethinking Atrous Convolution for Semantic Image Segmentation (arXiv:1706.05587)"),
    (r"^fcn_resnet(\d+)$", "FCN", lambda m: f"FCN ResNet-{m.group(1)}", 2014,
     "Fully Convolutional Networks for Semantic Segmentation (arXiv:1411.4038)"),
    (r"^lraspp_mobilenet_v3_large$", "LR-ASPP", lambda m: "LR-ASPP MobileNetV3-Large", 2019,
     "Searching for MobileNetV3 (arXiv:1905.02244)"),
]


def identity(name: str) -> dict[str, Any]:
    """family, display_name, year, paper of a torchvision builder (a new family: extend FAMILIES)."""
    for pattern, family, display, year, paper in FAMILIES:
        m = re.match(pattern, name)
        if m:
            return {"family": family, "display_name": display(m), "year": year, "paper": paper}
    raise SystemExit(f"regen_catalog: no family rule for torchvision builder '{name}'; "
                     "add one to FAMILIES in tools/regen_catalog.py")


