"""Writes the example: question-answer pairs (`qa.jsonl`: question, answer) of an introductory
machine learning course, each concept asked in several ways, as a course's teaching assistant
is asked; the held-out questions are new wordings of concepts the course covers."""

import json
import random
import sys
from pathlib import Path

CONCEPTS = {
    "监督学习": "用带标签的样本训练模型，让模型学会从输入预测输出。",
    "无监督学习": "在没有标签的数据中寻找结构，例如聚类和降维。",
    "过拟合": "模型在训练集上表现很好，在新数据上表现变差。",
    "欠拟合": "模型过于简单，连训练集的规律都没有学到。",
    "正则化": "在损失中加入惩罚项，限制模型复杂度，减轻过拟合。",
    "交叉验证": "把数据分成几份轮流做验证集，更可靠地评估模型。",
    "梯度下降": "沿着损失函数梯度的反方向一步步更新参数。",
    "学习率": "每次更新参数的步长，太大不收敛，太小训练慢。",
    "损失函数": "衡量模型预测与真实值差距的函数，训练就是让它变小。",
    "线性回归": "用一条直线或超平面拟合数据，预测连续的数值。",
    "逻辑回归": "用 Sigmoid 函数输出概率，常用于二分类问题。",
    "决策树": "按特征一步步划分数据，像一连串的是非问题。",
    "随机森林": "把许多决策树的结果投票或平均，比单棵树更稳定。",
    "支持向量机": "寻找间隔最大的分界面来区分不同类别。",
    "聚类": "把相似的样本自动分到同一组，例如 K 均值。",
    "主成分分析": "把数据投影到方差最大的方向上，用于降维。",
    "神经网络": "由多层神经元连接而成，通过训练调整连接权重。",
    "激活函数": "给神经元加入非线性，例如 ReLU 和 Sigmoid。",
    "反向传播": "用链式法则从输出层向输入层逐层计算梯度。",
    "卷积神经网络": "用卷积核提取局部特征，擅长处理图像。",
    "循环神经网络": "带有记忆的网络，按顺序处理文本和时间序列。",
    "批量大小": "每次参数更新所用的样本数量。",
    "训练集": "用来拟合模型参数的那部分数据。",
    "测试集": "训练时不使用，只用来评估最终模型的数据。",
    "准确率": "预测正确的样本占全部样本的比例。",
    "召回率": "真正的正样本中被模型找出来的比例。",
    "混淆矩阵": "按真实类别和预测类别统计样本数的表格。",
    "特征工程": "从原始数据中构造对预测有用的特征。",
    "数据标注": "为样本加上正确答案，供监督学习使用。",
    "迁移学习": "把在一个任务上学到的模型用于相关的新任务。",
}
QUESTIONS = [
    "什么是{c}？",
    "{c}是什么意思？",
    "请解释一下{c}。",
    "老师，{c}指的是什么？",
    "能简单介绍一下{c}吗？",
    "课上讲的{c}怎么理解？",
    "{c}的含义是什么？",
    "用一句话说说{c}。",
]


def main(dest: Path) -> None:
    rng = random.Random(19)
    rows = [
        {"question": q.format(c=concept), "answer": f"{concept}：{answer}"}
        for concept, answer in CONCEPTS.items()
        for q in QUESTIONS
    ]
    rng.shuffle(rows)
    dest.mkdir(parents=True, exist_ok=True)
    with open(dest / "qa.jsonl", "w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
